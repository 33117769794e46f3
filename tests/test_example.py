"""examples/train_and_export.py: its onnxruntime step, with and without the native library.

The step runs on a small ai.lossgrad model (the training and the export are covered
by test_ms_ops.py and test_onnx_export.py); without the native library (as when
onnxruntime's headers were missing at build time) it must run on the function
bodies and say so, not crash.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from lossgrad_ops.framework import reference as ref
from lossgrad_ops.onnx_ops.models import Call, build_model, input_names
from tests.helpers import rand

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("train_and_export", os.path.join(ROOT, "examples",
                                                                                   "train_and_export.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def small_model():
    calls = [Call("MseLoss", ((16, 1), (16, 1)), "float32", "mean"),
             Call("MseLossGrad", ((16, 1), (16, 1), ()), "float32", "mean"),
             Call("L1Loss", ((16, 1), (16, 1)), "float32", "sum")]
    rng = np.random.default_rng(5)
    arrays = [[rand(rng, s, np.float32) for s in c.shapes] for c in calls]
    feeds = {name: a for i, c in enumerate(calls) for name, a in zip(input_names(c.op, i), arrays[i])}
    expected = [ref.run(c.op, *[a.astype(np.float64) for a in arrays[i]], reduction=c.reduction)
                for i, c in enumerate(calls)]
    return build_model(calls), feeds, expected


def test_without_the_native_library_the_example_runs_on_function_bodies(example, monkeypatch, capsys):
    monkeypatch.setenv("LOSSGRAD_ORT_DISABLE_NATIVE", "1")  # what onnx_ops sees when it was not built
    model, feeds, expected = small_model()
    assert example.run_in_onnxruntime(model, feeds, expected)
    out = capsys.readouterr().out
    assert "native onnxruntime library is not built" in out and "function bodies" in out
    assert "native kernels:" not in out, out  # no run claims the native kernels
    assert out.count(": max difference") == 1 and out.count("OK") == 1, out


def test_with_the_native_library_the_example_runs_both(example, capsys):
    from lossgrad_ops import onnx_ops
    onnx_ops.library_path()  # the library is required (tests/conftest.py), so this runs both paths
    model, feeds, expected = small_model()
    assert example.run_in_onnxruntime(model, feeds, expected)
    out = capsys.readouterr().out
    assert "native kernels:" in out and "function bodies:" in out and out.count("OK") == 2, out
    assert "not built" not in out


def test_a_wrong_result_is_reported(example, capsys):
    model, feeds, expected = small_model()
    expected[1] = expected[1] + 1.0
    assert not example.run_in_onnxruntime(model, feeds, expected)
    assert "MISMATCH" in capsys.readouterr().out

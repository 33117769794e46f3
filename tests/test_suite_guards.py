"""The test suite fails when it should: missing native libraries, unstable seeds.

A missing native library stops the session (tests/conftest.py) unless the
documented switch LOSSGRAD_ALLOW_MISSING_NATIVE=1 is set, and then the tests that
need it are reported as skipped, never silently dropped. Checked in child pytest
processes, with the onnxruntime library hidden by LOSSGRAD_ORT_DISABLE_NATIVE=1
(what onnx_ops sees when the library was not built).
"""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NATIVE_TEST = "tests/test_onnx_runtime.py::test_native_kernels_run_when_the_library_is_registered"
PLAIN_TEST = "tests/test_errors.py::test_reduction_normalization"


def child_pytest(*tests, **env):
    environ = {k: v for k, v in os.environ.items() if k not in ("LOSSGRAD_ALLOW_MISSING_NATIVE",
                                                                 "LOSSGRAD_ORT_DISABLE_NATIVE", "PYTEST_ADDOPTS")}
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *tests],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)


def test_missing_onnxruntime_library_fails_the_session():
    proc = child_pytest(PLAIN_TEST, NATIVE_TEST, LOSSGRAD_ORT_DISABLE_NATIVE="1")
    out = proc.stdout + proc.stderr
    assert proc.returncode not in (0, 5), out  # 5: no tests collected
    assert "native libraries missing" in out and "onnx_ops/_lossgrad_ort" in out, out
    assert "LOSSGRAD_ALLOW_MISSING_NATIVE=1" in out, out
    assert " passed" not in out, out  # stopped before running anything


def test_the_switch_turns_native_tests_into_visible_skips():
    proc = child_pytest(PLAIN_TEST, NATIVE_TEST, LOSSGRAD_ORT_DISABLE_NATIVE="1", LOSSGRAD_ALLOW_MISSING_NATIVE="1")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "1 passed, 1 skipped" in out, out
    assert "native library unavailable" in out and "LOSSGRAD_ORT_DISABLE_NATIVE" in out, out


def test_with_every_library_present_nothing_is_skipped():
    proc = child_pytest(PLAIN_TEST, NATIVE_TEST, LOSSGRAD_ALLOW_MISSING_NATIVE="1")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "2 passed" in out and "skipped" not in out, out


def test_stable_seed_does_not_depend_on_the_hash_seed():
    code = ("import numpy as np; from tests.helpers import stable_seed; from lossgrad_ops.framework.arrays import bfloat16;"
            "print(stable_seed('MseLossGrad', ((2, 3), (3,)), 'mean', str(bfloat16)),"
            " stable_seed('L1LossGrad', 'sum', np.float16))")
    seen = set()
    for hash_seed in ("0", "1", "12345"):
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, PYTHONHASHSEED=hash_seed))
        assert proc.returncode == 0, proc.stderr
        seen.add(proc.stdout)
    assert len(seen) == 1, seen

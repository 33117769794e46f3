"""Several onnxruntime sessions with ai.lossgrad nodes, used from several threads at once."""
from __future__ import annotations

import concurrent.futures as cf

import numpy as np
import pytest

from lossgrad_ops import onnx_ops
from lossgrad_ops.framework import reference as ref
from lossgrad_ops.framework.definitions import OPS
from lossgrad_ops.onnx_ops.models import Call, build_model, input_names
from tests.helpers import assert_close, rand


def _sessions():
    """(label, session, calls): native (1 and 2 intra-op threads) and function-body sessions."""
    big = onnx_ops.native_stats()["parallel_threshold"] + 1001 if onnx_ops.native_available() else 300_001
    calls = [Call("MseLossGrad", ((big,), (big,), ()), "float32", "mean"),
             Call("L1LossGrad", (("B", 4), (4,), ("B", 1)), "float16", "sum"),
             Call("MseLoss", (("B", 4), (1, 4)), "float64", "mean"),
             Call("L1Loss", ((big,), (1,)), "float32", "none")]
    model = build_model(calls)
    out = [("functions", onnx_ops.inference_session(model, native=False, intra_op_num_threads=2), calls)]
    if onnx_ops.native_available():
        out += [(f"native-{t}", onnx_ops.inference_session(model, native=True, intra_op_num_threads=t), calls)
                for t in (1, 2)]
        out += [("native-shared-2", out[-1][1], calls)]  # the same session object twice
    return out


def _job(seed, label, session, calls):
    rng = np.random.default_rng(seed)
    b = int(rng.integers(0, 50))
    feeds, per_call = {}, []
    for i, call in enumerate(calls):
        shapes = [tuple(b if d == "B" else d for d in s) for s in call.shapes]
        arrays = [rand(rng, s, np.dtype(call.dtype)) for s in shapes]
        per_call.append(arrays)
        feeds.update(zip(input_names(call.op, i), arrays))
    outputs = session.run(None, feeds)
    for call, arrays, out in zip(calls, per_call, outputs):
        expected = ref.run(call.op, *[a.astype(np.float64) for a in arrays], reduction=call.reduction)
        reduced = OPS[call.op].is_loss and call.reduction != "none"
        try:
            assert_close(out, expected, np.dtype(call.dtype), reduction_terms=64 if reduced else 1)
        except AssertionError as exc:
            raise AssertionError(f"{label}, seed {seed}, {call}: {exc}") from None
    return label


def test_sessions_used_from_many_threads_at_once():
    sessions = _sessions()
    jobs = [(seed, *sessions[seed % len(sessions)]) for seed in range(48)]
    with cf.ThreadPoolExecutor(max_workers=8) as pool:
        done = list(pool.map(lambda job: _job(*job), jobs))
    assert sorted(done) == sorted(label for _, label, _, _ in jobs)


@pytest.mark.skipif(not onnx_ops.native_available(), reason="native onnxruntime library not built")
def test_concurrent_calls_are_counted_once_each():
    """Every concurrent run reaches the native kernels exactly once per node."""
    sessions = [s for s in _sessions() if s[0].startswith("native")]
    before = onnx_ops.native_stats()["compute_calls"]
    jobs = [(seed, *sessions[seed % len(sessions)]) for seed in range(24)]
    with cf.ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda job: _job(*job), jobs))
    assert onnx_ops.native_stats()["compute_calls"] - before == 24 * 4

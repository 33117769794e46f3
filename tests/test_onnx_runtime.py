"""ai.lossgrad models give the same results on every ONNX path as an independent float64 oracle.

Paths: onnxruntime with the native custom-op library, onnxruntime with the
function bodies only, onnx.reference with the reference ops (REFERENCE_OPS), and
onnx.reference running the function bodies (inlined: onnx.reference ignores
function overloads). One model per (op, dtype) holds a node per (attribute case,
reduction, shape case), so every model also mixes several overloads of one op:
the attribute cases (tests.helpers.attribute_cases) are the other declared
attributes left out (their defaults) and set to each sample value. The oracle is
PyTorch in float64 (tests.helpers.torch_oracle: torch.nn.functional's losses and
torch.autograd for the grad ops); the NaN/Inf cases use the package's float64
NumPy reference (framework/reference.py).
"""
from __future__ import annotations

import functools
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

from lossgrad_ops import onnx_ops
from lossgrad_ops.framework import cpu
from lossgrad_ops.framework import reference as ref
from lossgrad_ops.framework.arrays import np_dtype
from lossgrad_ops.framework.definitions import DTYPES, OPS
from lossgrad_ops.onnx_ops.models import Call, build_model, input_names, output_name
from tests.helpers import ONNX_PATHS, REDUCTIONS, assert_close, attribute_cases, rand, run_onnx_path, torch_oracle

OP_NAMES = list(OPS)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SHAPES = [
    ((), (), ()),                                 # rank 0
    ((7,), (7,), (7,)),
    ((3, 4), (3, 4), ()),                         # scalar third input
    ((3, 4), (), (3, 4)),                         # scalar second input
    ((2, 3, 4), (4,), (3, 1)),                    # differing ranks, size-1 axes
    ((5, 1, 6), (1, 4, 1), (4, 6)),               # every input broadcast
    ((2, 1, 2, 1, 2, 1, 2, 1), (1, 2, 1, 2, 1, 2, 1, 2), (2,)),  # rank 8
    ((0, 3), (3,), (1, 3)),                       # empty broadcast shape
    ((70001,), (1,), ()),                         # N above the float16 range (65504)
]

# The native library is required: tests/conftest.py stops the session when it is missing
# (unless LOSSGRAD_ALLOW_MISSING_NATIVE=1, which turns these tests into skips).


def _calls(op: str, dtype: str):
    calls = []
    for attrs in attribute_cases(op):
        for reduction in REDUCTIONS:
            for shapes in SHAPES:
                io = "float32" if dtype == "bfloat16" else None  # onnxruntime's Python API has no bfloat16
                calls.append(Call(op, tuple(shapes[:len(OPS[op].inputs)]), dtype, reduction, io_dtype=io,
                                  attrs=attrs))
    return calls


def _inputs(calls, seed: int):
    """Per call: the inputs in the op's dtype (for the reference) and the feeds."""
    rng = np.random.default_rng(seed)
    per_call, feeds = [], {}
    for i, call in enumerate(calls):
        arrays = [rand(rng, s, np_dtype(call.dtype)) for s in call.shapes]
        per_call.append(arrays)
        for name, a in zip(input_names(call.op, i), arrays):
            feeds[name] = a.astype(np.float32) if call.io_dtype else a
    return per_call, feeds


@functools.lru_cache(maxsize=None)
def _case(op: str, dtype: str):
    calls = _calls(op, dtype)
    model = build_model(calls)
    per_call, feeds = _inputs(calls, seed=OP_NAMES.index(op) * 10 + DTYPES.index(dtype))
    return calls, model, per_call, feeds


def _expected(call, arrays, oracle="torch"):
    inputs = [a.astype(np.float64) for a in arrays]
    if oracle == "torch":
        return torch_oracle(call.op, inputs, call.reduction, **dict(call.attrs))
    return ref.run(call.op, *inputs, reduction=call.reduction, **dict(call.attrs))


def _check_outputs(calls, per_call, outputs, path, oracle="torch"):
    for i, (call, arrays, out) in enumerate(zip(calls, per_call, outputs)):
        dtype = np.dtype(np_dtype(call.dtype))
        if call.io_dtype:
            assert out.dtype == np.float32
            out = out.astype(dtype)  # exact: the values are bfloat16 values
        reduced = OPS[call.op].is_loss and call.reduction != "none"
        try:
            assert_close(out, _expected(call, arrays, oracle), dtype,
                         reduction_terms=64 if reduced else 1)
        except AssertionError as exc:
            raise AssertionError(f"{path}: {call}: {exc}") from None


PATHS = ONNX_PATHS


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OP_NAMES)
@pytest.mark.parametrize("path", PATHS)
def test_every_path_matches_the_reference(path, op, dtype):
    calls, model, per_call, feeds = _case(op, dtype)
    outputs = run_onnx_path(path, model, feeds)
    assert len(outputs) == len(calls)
    _check_outputs(calls, per_call, outputs, path)


def test_the_model_validates_and_shapes_are_inferred():
    for op in OP_NAMES:
        calls, model, _, _ = _case(op, "float16")
        onnx.checker.check_model(model, full_check=True)
        outputs = {o.name: o for o in model.graph.output}
        for i, call in enumerate(calls):
            dims = [d.dim_value for d in outputs[output_name(op, i)].type.tensor_type.shape.dim]
            expected = () if OPS[op].is_loss and call.reduction != "none" else np.broadcast_shapes(*call.shapes)
            assert tuple(dims) == tuple(expected), call


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_nan_inf_and_signed_zero_cases(path, dtype):
    """NaN and Inf propagate as the formulas say; sign(NaN) = NaN, sign(0) = 0."""
    special = np.array([np.nan, np.inf, -np.inf, 1.0, 2.0, 0.5, -3.0, np.inf])
    other = np.array([0.0, 1.0, 2.0, 1.0, np.nan, 0.5, np.inf, np.inf])
    third = np.array([1.0, 2.0, -1.0, 1.0, 1.0, 0.0, 2.0, 1.0])
    calls, arrays = [], []
    for op in OP_NAMES:
        for attrs in attribute_cases(op):
            for reduction in REDUCTIONS:
                calls.append(Call(op, ((8,),) * len(OPS[op].inputs), dtype, reduction, attrs=attrs))
                arrays.append([x.astype(dtype) for x in (special, other, third)][:len(OPS[op].inputs)])
    model = build_model(calls)
    feeds = {name: a for i, c in enumerate(calls) for name, a in zip(input_names(c.op, i), arrays[i])}
    _check_outputs(calls, arrays, run_onnx_path(path, model, feeds), path, oracle="numpy")


@pytest.mark.parametrize("path", PATHS)
def test_symbolic_dimensions_take_any_size(path):
    calls = [Call("MseLossGrad", (("B", 3), (3,), ("B", 1)), "float32", "mean"),
             Call("L1Loss", (("B", 3), (1, 3)), "float64", "mean")]
    model = build_model(calls)
    out = {o.name: o.type.tensor_type.shape for o in model.graph.output}
    assert out["y_0"].dim[0].dim_param == "B" and out["y_0"].dim[1].dim_value == 3
    assert len(out["loss_1"].dim) == 0
    rng = np.random.default_rng(4)
    for b in (1, 5, 0):
        arrays = [[rand(rng, (b, 3), np.float32), rand(rng, (3,), np.float32), rand(rng, (b, 1), np.float32)],
                  [rand(rng, (b, 3), np.float64), rand(rng, (1, 3), np.float64)]]
        feeds = {name: a for i, c in enumerate(calls) for name, a in zip(input_names(c.op, i), arrays[i])}
        _check_outputs(calls, arrays, run_onnx_path(path, model, feeds), path)


@pytest.mark.parametrize("opset", [11, 13, 17, 18, 21])
def test_function_bodies_at_several_opsets(opset):
    dtypes = ["float16", "float32", "float64"] + (["bfloat16"] if opset >= onnx_ops.MIN_OPSET_BFLOAT16 else [])
    calls = [Call(op, ((2, 3), (3,), (2, 1))[:len(OPS[op].inputs)], dt, red,
                  io_dtype="float32" if dt == "bfloat16" else None, attrs=attrs)
             for op in OP_NAMES for attrs in attribute_cases(op) for dt in dtypes for red in REDUCTIONS]
    model = build_model(calls, opset=opset)  # checks the model (full_check)
    assert all(f.opset_import[0].version == opset for f in model.functions)
    per_call, feeds = _inputs(calls, seed=opset)
    _check_outputs(calls, per_call, run_onnx_path("ort-functions", model, feeds), f"opset {opset}")


# -- which path ran ---------------------------------------------------------------

def test_native_kernels_run_when_the_library_is_registered():
    calls, model, per_call, feeds = _case("MseLossGrad", "float32")
    before = onnx_ops.native_stats()["compute_calls"]
    _check_outputs(calls, per_call, run_onnx_path("ort-native", model, feeds), "ort-native")
    after = onnx_ops.native_stats()["compute_calls"]
    assert after - before == len(calls), "the native kernels did not run (the function bodies did)"
    _check_outputs(calls, per_call, run_onnx_path("ort-functions", model, feeds), "ort-functions")
    assert onnx_ops.native_stats()["compute_calls"] == after, "native kernels ran without the library registered"


def test_without_the_native_library_everything_runs_on_function_bodies():
    """As when the library could not be built: a fresh process with it disabled."""
    script = (
        "import numpy as np; from lossgrad_ops import onnx_ops\n"
        "from lossgrad_ops.onnx_ops.models import Call, build_model\n"
        "assert not onnx_ops.native_available()\n"
        "m = build_model([Call('MseLossGrad', ((2, 3), (3,), ()), 'float32', 'sum')], functions=False)\n"
        "s = onnx_ops.inference_session(m)\n"
        "p = np.arange(6, dtype=np.float32).reshape(2, 3); l = np.ones(3, np.float32); d = np.float32(0.5)\n"
        "y = s.run(None, {'predict_0': p, 'label_0': l, 'dout_0': np.array(d)})[0]\n"
        "np.testing.assert_array_equal(y, d * (p - l) * 2)\n"
        "print('function bodies ran')\n"
    )
    env = dict(os.environ, LOSSGRAD_ORT_DISABLE_NATIVE="1")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "function bodies ran" in proc.stdout


# -- thread pool and determinism ------------------------------------------------------

@pytest.mark.parametrize("op", OP_NAMES)
def test_native_uses_the_intra_op_pool_bitwise_deterministic(op):
    n = onnx_ops.native_stats()["parallel_threshold"] * 2 + 4321
    dtype = "float32"
    calls = [Call(op, ((n,),) * len(OPS[op].inputs), dtype, red, attrs=attrs)
             for attrs in attribute_cases(op) for red in REDUCTIONS]
    model = build_model(calls, functions=False)
    per_call, feeds = _inputs(calls, seed=7)
    results = []
    for threads in (1, 2):
        session = onnx_ops.inference_session(model, native=True, intra_op_num_threads=threads)
        before = onnx_ops.native_stats()["parallel_calls"]
        results.append(session.run(None, feeds))
        used = onnx_ops.native_stats()["parallel_calls"] - before
        assert used == len(calls), f"{used} of {len(calls)} calls went to the thread pool"
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()
    _check_outputs(calls, per_call, results[1], "ort-native")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OP_NAMES)
def test_native_is_the_shared_kernel_core_bitwise(op, dtype):
    """onnxruntime and framework.cpu run the same core: identical bits, with every attribute case."""
    calls = _calls(op, dtype)
    model = build_model(calls, functions=False)
    per_call, feeds = _inputs(calls, seed=99)
    for call, arrays, out in zip(calls, per_call, run_onnx_path("ort-native", model, feeds)):
        expected = cpu.run(call.op, *arrays, reduction=call.reduction, **dict(call.attrs))
        if call.io_dtype:
            out = out.astype(expected.dtype)
        assert out.tobytes() == expected.tobytes(), call

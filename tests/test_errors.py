"""SPEC.md's error table, enforced by the shared validation and by the native core."""
from __future__ import annotations

import numpy as np
import pytest

from framework import cpu, definitions as d
from framework import reference as ref

OPS = {"MseLossGrad": 3, "L1LossGrad": 3, "MseLoss": 2, "L1Loss": 2}
BAD_REDUCTIONS = ["Mean", "avg", "", "elementwise_mean", 3, -1, 1.0, True, False, None, b"mean"]


def ones(shape=(2, 3), dtype=np.float32):
    return np.ones(shape, dtype)


@pytest.mark.parametrize("backend", [cpu, ref], ids=["native", "reference"])
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("bad", BAD_REDUCTIONS, ids=repr)
def test_bad_reduction_is_value_error_naming_value_and_allowed(backend, op, bad):
    with pytest.raises(ValueError) as info:
        backend.run(op, *[ones()] * OPS[op], reduction=bad)
    msg = str(info.value)
    assert repr(bad) in msg and "'none', 'mean', 'sum'" in msg and "0, 1, 2" in msg and op in msg


@pytest.mark.parametrize("backend", [cpu, ref], ids=["native", "reference"])
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_, np.complex64, np.uint8])
def test_unsupported_dtype_is_type_error_naming_argument(backend, op, dtype):
    names = d.OPS[op].inputs
    for pos in range(OPS[op]):
        inputs = [ones() for _ in range(OPS[op])]
        inputs[pos] = ones(dtype=dtype)
        with pytest.raises(TypeError) as info:
            backend.run(op, *inputs, reduction="mean")
        msg = str(info.value)
        assert names[pos] in msg and np.dtype(dtype).name in msg
        assert "float16, bfloat16, float32, float64" in msg


@pytest.mark.parametrize("backend", [cpu, ref], ids=["native", "reference"])
@pytest.mark.parametrize("op", OPS)
def test_non_broadcastable_is_value_error_naming_all_shapes(backend, op):
    shapes = [(2, 3), (4,), (2, 1)][:OPS[op]]
    with pytest.raises(ValueError) as info:
        backend.run(op, *[ones(s) for s in shapes], reduction="none")
    msg = str(info.value)
    for name, s in zip(d.OPS[op].inputs, shapes):
        assert f"{name} {s}" in msg


@pytest.mark.parametrize("backend", [cpu, ref], ids=["native", "reference"])
@pytest.mark.parametrize("op", OPS)
def test_rank_above_8_is_value_error_naming_argument_and_rank(backend, op):
    for pos in range(OPS[op]):
        inputs = [ones((1,) * 2) for _ in range(OPS[op])]
        inputs[pos] = ones((1,) * 9)
        with pytest.raises(ValueError) as info:
            backend.run(op, *inputs, reduction="sum")
        assert f"{d.OPS[op].inputs[pos]} has rank 9" in str(info.value)


def test_reduction_normalization():
    assert [d.normalize_reduction(x) for x in (0, 1, 2, "none", "mean", "sum")] == \
        ["none", "mean", "sum", "none", "mean", "sum"]
    assert d.normalize_reduction(np.int64(2)) == "sum"
    assert d.reduction_index("mean") == 1


def test_promotion_table():
    p = d.promote_dtypes
    assert p(["float16", "bfloat16"]) == "float32"
    assert p(["bfloat16", "float16", "bfloat16"]) == "float32"
    assert p(["float16", "float16"]) == "float16"
    assert p(["bfloat16", "float32"]) == "float32"
    assert p(["float16", "float64"]) == "float64"
    assert p(["float32", "float64", "bfloat16"]) == "float64"


def test_dynamic_dimension_broadcast_rules():
    assert d.broadcast_shapes({"a": (-1, 3), "b": (3,)}, "X") == (-1, 3)
    assert d.broadcast_shapes({"a": (-1, 3), "b": (4, 1)}, "X") == (4, 3)
    with pytest.raises(ValueError):
        d.broadcast_shapes({"a": (2, -1), "b": (3, 5)}, "X")


def test_native_core_validates_on_its_own():
    """The C++ core re-checks everything (the onnxruntime kernels rely on it):
    call it directly, bypassing the Python validation."""
    import ctypes
    lib = cpu._library()

    def make_ref(a):
        if a.ndim <= 8:
            return cpu._ref(a)
        t = cpu._ref(a.reshape(a.shape[:8]))  # the core must reject ndim 9 before reading shapes
        t.ndim = a.ndim
        return t

    def call(op, red, arrays, out_shape=(2, 3), out_dtype=np.float32):
        refs = (cpu._TensorRef * len(arrays))(*[make_ref(a) for a in arrays])
        out = np.empty(out_shape, out_dtype)
        out_ref = cpu._ref(out)
        err = ctypes.create_string_buffer(512)
        rc = lib.lossgrad_run(op, red, len(arrays), refs, ctypes.byref(out_ref), err, 512)
        return rc, err.value.decode()

    rc, msg = call(0, 7, [ones()] * 3)
    assert rc == 1 and "reduction must be one of" in msg and "got 7" in msg
    rc, msg = call(0, 1, [ones()] * 2)
    assert rc == 2 and "expects 3 inputs (predict, label, dout); got 2" in msg
    rc, msg = call(0, 1, [ones(), ones((4,)), ones()])
    assert rc == 1 and "predict (2, 3), label (4,), dout (2, 3)" in msg
    rc, msg = call(0, 1, [ones(), ones((1,) * 9), ones()])
    assert rc == 1 and "label has rank 9" in msg
    rc, msg = call(2, 1, [ones(), ones()], out_shape=(2, 3))  # reduced loss writes a scalar
    assert rc == 1 and "wrong shape" in msg

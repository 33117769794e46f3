"""docs/SPEC.md's error table, enforced by the shared validation (framework.cpu, reference) and by the native core."""
from __future__ import annotations

import numpy as np
import pytest

from lossgrad_ops.framework import cpu, definitions as d
from lossgrad_ops.framework import reference as ref
from tests.helpers import raw_attrs

OPS = {name: len(op.inputs) for name, op in d.OPS.items()}  # every declared op: its arity
BAD_REDUCTIONS = ["Mean", "avg", "", "elementwise_mean", 3, -1, 1.0, True, False, None, b"mean"]


def ones(shape=(2, 3), dtype=np.float32):
    return np.ones(shape, dtype)


@pytest.mark.parametrize("backend", [cpu, ref], ids=["cpu", "reference"])
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("bad", BAD_REDUCTIONS, ids=repr)
def test_bad_reduction_is_value_error_naming_value_and_allowed(backend, op, bad):
    with pytest.raises(ValueError) as info:
        backend.run(op, *[ones()] * OPS[op], reduction=bad)
    msg = str(info.value)
    assert repr(bad) in msg and "'none', 'mean', 'sum'" in msg and "0, 1, 2" in msg and op in msg


@pytest.mark.parametrize("backend", [cpu, ref], ids=["cpu", "reference"])
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


@pytest.mark.parametrize("backend", [cpu, ref], ids=["cpu", "reference"])
@pytest.mark.parametrize("op", OPS)
def test_non_broadcastable_is_value_error_naming_all_shapes(backend, op):
    shapes = [(2, 3), (4,), (2, 1)][:OPS[op]]
    with pytest.raises(ValueError) as info:
        backend.run(op, *[ones(s) for s in shapes], reduction="none")
    msg = str(info.value)
    for name, s in zip(d.OPS[op].inputs, shapes):
        assert f"{name} {s}" in msg


@pytest.mark.parametrize("backend", [cpu, ref], ids=["cpu", "reference"])
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


# -- the native core's own validation (through the C API, no Python validation first) ----------
#
# The onnxruntime kernels and the MindSpore aot entries rely on these checks; framework.cpu
# validates in Python before calling the core, so its errors above never reach them.

MAX_INPUTS = max(OPS.values())
UNSUPPORTED = [np.int8, np.int32, np.int64, np.uint8, np.bool_, np.complex64, np.complex128, np.float128]


def _native_ref(shape=(2, 3), dtype_code=None, ndim=None):
    """A TensorRef of a float32 array of ``shape``, with its dtype code or rank overridden."""
    a = ones(shape)
    t = cpu._ref(a)
    t._keep = a
    if dtype_code is not None:
        t.dtype = dtype_code
    if ndim is not None:
        t.ndim = ndim  # the core must reject it from ndim alone, before reading any dimension
    return t


def native_run(op, reduction, refs, dtype_names=None, out_shape=(2, 3), out_dtype=np.float32):
    """``lossgrad_run_named`` of the core: (status, message, out). Status 1 is ValueError, 2 TypeError."""
    import ctypes
    lib = cpu._library()
    fn = lib.lossgrad_run_named
    fn.argtypes = [ctypes.c_int32, ctypes.POINTER(cpu._AttrValue), ctypes.c_int32, ctypes.POINTER(cpu._TensorRef),
                   ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(cpu._TensorRef), ctypes.c_char_p, ctypes.c_int64]
    fn.restype = ctypes.c_int
    arr = (cpu._TensorRef * max(1, len(refs)))(*refs)
    names = None
    if dtype_names is not None:
        names = (ctypes.c_char_p * len(dtype_names))(*[None if n is None else n.encode() for n in dtype_names])
    out = np.full(out_shape, -7.0, out_dtype)
    out_ref = cpu._ref(out)
    err = ctypes.create_string_buffer(1024)
    rc = fn(d.OPS[op].native_id, raw_attrs(d.OPS[op].native_id, reduction), len(refs), arr, names, ctypes.byref(out_ref), err, len(err))
    return rc, err.value.decode(), out


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("code", [3, 4, 7, -1, 2**31 - 1, -2**31])
def test_native_bad_reduction_code_names_value_and_allowed(op, code):
    rc, msg, out = native_run(op, code, [_native_ref() for _ in range(OPS[op])])
    assert rc == 1
    assert msg == d.MESSAGES["bad_reduction"].format(op=op, value=str(code))
    assert f"got {code}" in msg and "'none', 'mean', 'sum'" in msg and "0, 1, 2" in msg
    assert (out == -7.0).all(), "nothing may be written on error"


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", UNSUPPORTED, ids=lambda t: np.dtype(t).name)
def test_native_unsupported_dtype_names_argument_dtype_and_supported(op, dtype):
    name = np.dtype(dtype).name
    for pos in range(OPS[op]):
        refs = [_native_ref(dtype_code=-1 if k == pos else None) for k in range(OPS[op])]
        names = [name if k == pos else None for k in range(OPS[op])]
        rc, msg, out = native_run(op, 1, refs, dtype_names=names)
        assert rc == 2
        assert msg == d.MESSAGES["bad_dtype"].format(op=op, arg=d.OPS[op].inputs[pos], dtype=name)
        assert f"{d.OPS[op].inputs[pos]} has dtype {name}" in msg
        assert ", ".join(d.DTYPES) in msg
        assert (out == -7.0).all()


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("code", [-1, 4, 99, -2**31])
def test_native_unmapped_dtype_code_without_a_name_still_says_which(op, code):
    for pos in range(OPS[op]):
        refs = [_native_ref(dtype_code=code if k == pos else None) for k in range(OPS[op])]
        for names in (None, [None] * OPS[op], [""] * OPS[op]):
            rc, msg, _ = native_run(op, 0, refs, dtype_names=names)
            assert rc == 2
            assert msg == d.MESSAGES["bad_dtype"].format(op=op, arg=d.OPS[op].inputs[pos],
                                                         dtype=f"unknown (code {code})")


@pytest.mark.parametrize("op", OPS)
def test_native_non_broadcastable_names_all_shapes(op):
    for shapes in ([(2, 3), (4,), (2, 1)], [(5,), (1, 5), (2, 3)], [(0,), (2,), (1,)]):
        shapes = shapes[:OPS[op]]
        try:
            np.broadcast_shapes(*shapes)
            continue  # (a case that broadcasts for this arity)
        except ValueError:
            pass
        rc, msg, out = native_run(op, 2, [_native_ref(s) for s in shapes])
        assert rc == 1
        listed = ", ".join(f"{n} {s}" for n, s in zip(d.OPS[op].inputs, shapes))
        assert msg == d.MESSAGES["not_broadcastable"].format(op=op, shapes=listed)
        assert (out == -7.0).all()


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("rank", [9, 12, 2**31 - 1, -1])
def test_native_bad_rank_names_argument_and_rank(op, rank):
    for pos in range(OPS[op]):
        refs = [_native_ref(ndim=rank if k == pos else None) for k in range(OPS[op])]
        rc, msg, out = native_run(op, 1, refs)
        assert rc == 1
        assert msg == d.MESSAGES["bad_rank"].format(op=op, arg=d.OPS[op].inputs[pos], rank=rank)
        assert (out == -7.0).all()


@pytest.mark.parametrize("op", OPS)
def test_native_wrong_arity_and_check_order(op):
    n = OPS[op]
    for got in (0, n - 1, n + 1):
        rc, msg, _ = native_run(op, 1, [_native_ref() for _ in range(got)])
        assert rc == 2
        assert msg == d.MESSAGES["bad_arity"].format(op=op, expected=n, names=", ".join(d.OPS[op].inputs), got=got)
    # docs/SPEC.md's order: reduction, then dtypes, then ranks, then broadcasting
    bad_all = [_native_ref((k + 2,), dtype_code=-1, ndim=9) for k in range(n)]
    assert "reduction must be one of" in native_run(op, 5, bad_all)[1]
    bad_rank_shape = [_native_ref((k + 2,), ndim=9 if k == n - 1 else None) for k in range(n)]
    assert "has dtype int64" in native_run(op, 0, bad_all, dtype_names=["int64"] * n)[1]
    assert f"{d.OPS[op].inputs[n - 1]} has rank 9" in native_run(op, 0, bad_rank_shape)[1]


def test_native_core_validates_on_its_own():
    """The C++ core re-checks everything (the onnxruntime kernels rely on it):
    call lossgrad_run directly, bypassing the Python validation."""
    import ctypes
    lib = cpu._library()

    def call(op, red, refs, out_shape=(2, 3), out_dtype=np.float32):
        arr = (cpu._TensorRef * len(refs))(*refs)
        out = np.empty(out_shape, out_dtype)
        out_ref = cpu._ref(out)
        err = ctypes.create_string_buffer(512)
        rc = lib.lossgrad_run(op, raw_attrs(op, red), len(refs), arr, ctypes.byref(out_ref), err, 512)
        return rc, err.value.decode()

    rc, msg = call(0, 7, [_native_ref()] * 3)
    assert rc == 1 and "reduction must be one of" in msg and "got 7" in msg
    rc, msg = call(0, 1, [_native_ref()] * 2)
    assert rc == 2 and "expects 3 inputs (predict, label, dout); got 2" in msg
    rc, msg = call(0, 1, [_native_ref(), _native_ref((4,)), _native_ref()])
    assert rc == 1 and "predict (2, 3), label (4,), dout (2, 3)" in msg
    rc, msg = call(0, 1, [_native_ref(), _native_ref(ndim=9), _native_ref()])
    assert rc == 1 and "label has rank 9" in msg
    rc, msg = call(0, 1, [_native_ref(), _native_ref(dtype_code=-1), _native_ref()])
    assert rc == 2 and msg == d.MESSAGES["bad_dtype"].format(op="MseLossGrad", arg="label", dtype="unknown (code -1)")
    rc, msg = call(2, 1, [_native_ref(), _native_ref()], out_shape=(2, 3))  # reduced loss writes a scalar
    assert rc == 1 and "wrong shape" in msg

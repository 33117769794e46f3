"""The NumPy face (framework.cpu) on what NumPy itself accepts and what it refuses.

Non-native byte order and unaligned inputs are converted (as NumPy ufuncs do), an
``out=`` that overlaps an input gives the values a fresh output would, ``out=`` must
be a writable, aligned, native-order NumPy array, and ``reduction`` takes only the
three names and the Python/NumPy integers 0, 1, 2. Values are compared with a
float64 NumPy reference (framework.reference, or the float64 sums below).
"""
from __future__ import annotations

import numpy as np
import pytest

from lossgrad_ops.framework import cpu
from lossgrad_ops.framework import definitions as d
from lossgrad_ops.framework import reference as ref
from lossgrad_ops.framework.arrays import dtype_name, np_dtype
from lossgrad_ops.framework.registry import function_name
from tests.helpers import ALL_DTYPES, DTYPE_IDS, assert_close, rand

FUNCS = {name: getattr(cpu, function_name(name)) for name in d.OPS}  # the face's function of every declared op
OPS = list(FUNCS)
SEED = {op: k for k, op in enumerate(OPS)}
DT = dict(zip(DTYPE_IDS, ALL_DTYPES))


def arity(op: str) -> int:
    return len(d.OPS[op].inputs)


def elementwise_reductions(op: str):
    """Reductions whose output has the broadcast shape (so out= can overlap an input element by element)."""
    return ["none"] if d.OPS[op].is_loss else ["none", "mean", "sum"]


def result_dtype(inputs) -> np.dtype:
    return np_dtype(d.promote_dtypes([dtype_name(np.asarray(a).dtype) for a in inputs]))


def check(op: str, ref_inputs, reduction, result) -> None:
    """``result`` against the float64 reference of ``ref_inputs`` (native, aligned copies)."""
    expected = ref.run(op, *[np.asarray(a).astype(np.float64) for a in ref_inputs], reduction=reduction)
    reduced = d.OPS[op].is_loss and d.normalize_reduction(reduction) != "none"
    assert_close(result, expected, result_dtype(ref_inputs), reduction_terms=64 if reduced else 1)


def reduce_to_ref(t: np.ndarray, shape) -> np.ndarray:
    """float64 sum of ``t`` over the axes that broadcasting from ``shape`` added or expanded."""
    t = np.asarray(t).astype(np.float64)
    lead = t.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + k for k, s in enumerate(shape) if s == 1 and t.shape[lead + k] != 1)
    return t.sum(axis=axes).reshape(shape)


def non_native(a: np.ndarray) -> np.ndarray:
    """The same values in the other byte order."""
    s = a.byteswap().view(a.dtype.newbyteorder())
    assert not s.dtype.isnative
    return s


def unaligned(a: np.ndarray) -> np.ndarray:
    """A writable C-contiguous copy of ``a`` at an odd address."""
    a = np.asarray(a)
    u = np.frombuffer(bytearray(a.nbytes + 1), a.dtype, count=a.size, offset=1).reshape(a.shape)
    u[...] = a
    assert not u.flags.aligned and u.flags.c_contiguous and u.flags.writeable
    return u


class _Spy:
    """Stands for the native library and records the address and dtype of every tensor it is given."""

    def __init__(self, lib):
        self._lib = lib
        self.seen = []  # (address, canonical dtype name)

    def __getattr__(self, name):
        return getattr(self._lib, name)

    def _note(self, t) -> None:
        if t.data:
            self.seen.append((t.data, d.DTYPES[t.dtype]))

    def lossgrad_run(self, op, reduction, n, refs, out_ref, err, err_len):
        for i in range(n):
            self._note(refs[i])
        self._note(out_ref._obj)  # out_ref is a ctypes.byref()
        return self._lib.lossgrad_run(op, reduction, n, refs, out_ref, err, err_len)

    def lossgrad_run_direct(self, op, attrs, n, geometry, in0, in1, in2, out_data, err, err_len):
        # the small-call path: the geometry validated once, this call's data pointers as arguments
        for i, ptr in enumerate([in0, in1, in2][:n] + [out_data]):
            if ptr:
                self.seen.append((ptr, d.DTYPES[geometry[i].dtype]))
        return self._lib.lossgrad_run_direct(op, attrs, n, geometry, in0, in1, in2, out_data, err, err_len)

    def lossgrad_reduce_to(self, in_ref, out_ref, scale, err, err_len):
        for r in (in_ref, out_ref):
            self._note(r._obj)
        return self._lib.lossgrad_reduce_to(in_ref, out_ref, scale, err, err_len)

    def misaligned(self):
        return [(hex(a), n) for a, n in self.seen if a % np_dtype(n).alignment]


@pytest.fixture
def spy(monkeypatch):
    s = _Spy(cpu._library())
    monkeypatch.setattr(cpu, "_library", lambda: s)
    return s


# -- item 11: out= must be a NumPy array ----------------------------------------

@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("bad", [[0.0, 0.0, 0.0], (0.0, 0.0, 0.0), 0.0, memoryview(bytearray(12))],
                         ids=["list", "tuple", "float", "memoryview"])
def test_out_must_be_a_numpy_array(op, bad):
    x = np.ones(3, np.float32)
    with pytest.raises(TypeError) as info:
        FUNCS[op](*[x] * arity(op), "none", out=bad)
    msg = str(info.value)
    assert op in msg and "out must be a NumPy array" in msg and type(bad).__name__ in msg


# -- item 3: read-only out= ------------------------------------------------------

@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_read_only_out_is_refused_and_left_untouched(op, reduction, tmp_path):
    rng = np.random.default_rng(30 + SEED[op])
    inputs = [rand(rng, (3,), np.float32) for _ in range(arity(op))]
    shape = d.OPS[op].output_shape((3,), reduction)
    size = int(np.prod(shape, dtype=np.int64))
    raw = bytes(4 * size)
    path = tmp_path / "out.bin"
    np.zeros(shape, np.float32).tofile(path)
    frozen = np.zeros(shape, np.float32)
    frozen.flags.writeable = False
    candidates = [np.frombuffer(raw, np.float32).reshape(shape), frozen,
                  np.memmap(path, dtype=np.float32, mode="r", shape=shape)]
    for out in candidates:
        with pytest.raises(ValueError) as info:
            FUNCS[op](*inputs, reduction, out=out)
        assert "out" in str(info.value) and "writable" in str(info.value)
    assert raw == bytes(4 * size)
    assert not frozen.any()
    assert not np.fromfile(path, np.float32).any()
    # a writable out of the same kind is filled with the right values
    out = np.memmap(path, dtype=np.float32, mode="r+", shape=shape)
    assert FUNCS[op](*inputs, reduction, out=out) is out
    check(op, inputs, reduction, np.asarray(out))


# -- item 4: non-native byte order -------------------------------------------------

@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", DTYPE_IDS)
def test_non_native_byte_order_inputs_are_converted(op, dtype):
    rng = np.random.default_rng(40 + SEED[op])
    shapes = [(4, 5), (5,), (4, 1)][:arity(op)]
    inputs = [rand(rng, s, DT[dtype]) for s in shapes]
    for reduction in ["none", "mean", "sum"]:
        for pos in range(arity(op)):  # each input in turn, then all of them
            swapped = list(inputs)
            swapped[pos] = non_native(inputs[pos])
            check(op, inputs, reduction, FUNCS[op](*swapped, reduction))
        check(op, inputs, reduction, FUNCS[op](*[non_native(a) for a in inputs], reduction))
    # strided and non-native at once, and mixed dtypes with one swapped
    wide = rand(rng, (4, 10), DT[dtype])
    strided = [non_native(wide)[:, ::2]] + inputs[1:]
    check(op, [wide[:, ::2]] + inputs[1:], "sum", FUNCS[op](*strided, "sum"))
    other = rand(rng, (5,), np.float32)
    mixed = [inputs[0], non_native(other)] + inputs[2:]
    check(op, [inputs[0], other] + inputs[2:], "mean", FUNCS[op](*mixed, "mean"))


@pytest.mark.parametrize("dtype", DTYPE_IDS)
def test_reduce_to_converts_non_native_byte_order(dtype):
    rng = np.random.default_rng(44)
    t = rand(rng, (3, 4, 5), DT[dtype])
    for shape in [(4, 5), (4, 1), (1, 4, 1), (3, 4, 5), ()]:
        got = cpu.reduce_to(non_native(t), shape)
        assert got.dtype == DT[dtype] and got.dtype.isnative
        assert_close(got, reduce_to_ref(t, shape), DT[dtype], reduction_terms=64)
    # a non-native result dtype names the element type: the result is that type in native order
    got = cpu.reduce_to(t, (4, 1), dtype=np.dtype(np.float64).newbyteorder(), negate=True)
    assert got.dtype == np.float64 and got.dtype.isnative
    assert_close(got, -reduce_to_ref(t, (4, 1)), np.float64, reduction_terms=64)
    got = cpu.reduce_to(non_native(t), (5,), dtype=">f4" if np.little_endian else "<f4")
    assert_close(got, reduce_to_ref(t, (5,)), np.float32, reduction_terms=64)


@pytest.mark.parametrize("op", OPS)
def test_non_native_out_is_refused(op):
    # docs/SPEC.md: out= must have the output's dtype; '>f4' is not NumPy's float32 here, and a silent
    # temporary would defeat the point of out=. The error says why.
    x = np.ones((2, 3), np.float32)
    for reduction in ["none", "sum"]:
        out = np.zeros(d.OPS[op].output_shape((2, 3), reduction), np.dtype(np.float32).newbyteorder())
        with pytest.raises(ValueError) as info:
            FUNCS[op](*[x] * arity(op), reduction, out=out)
        assert "out" in str(info.value) and "byte order" in str(info.value)
        assert not out.any()


# -- item 5: out= overlapping an input -----------------------------------------------

@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", DTYPE_IDS)
@pytest.mark.parametrize("shift", [1, -1, 3, 600])
def test_out_partially_overlapping_an_input(op, dtype, shift):
    # buf[b:b+n] is an input, buf[b+shift:b+shift+n] the output: the result must be that of a fresh output
    n, b = 1000, 600
    rng = np.random.default_rng(50 + SEED[op] + 7 * abs(shift))
    for reduction in elementwise_reductions(op):
        for pos in range(arity(op)):
            buf = rand(rng, (n + 2 * b,), DT[dtype])
            inputs = [rand(rng, (n,), DT[dtype]) for _ in range(arity(op))]
            inputs[pos] = buf[b:b + n]
            before = [a.copy() for a in inputs]
            out = buf[b + shift:b + shift + n]
            assert FUNCS[op](*inputs, reduction, out=out) is out
            check(op, before, reduction, out)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", DTYPE_IDS)
def test_out_overlapping_an_input_with_other_strides(op, dtype):
    rng = np.random.default_rng(55 + SEED[op])
    reduction = elementwise_reductions(op)[-1]
    for pos in range(arity(op)):
        # the input is the output reversed; then the output's transpose; then its first row, broadcast
        for make_input, shape in [(lambda o: o[::-1], (700,)), (lambda o: o.T, (40, 40)),
                                  (lambda o: o[0], (30, 50))]:
            out = rand(rng, shape, DT[dtype])
            inputs = [rand(rng, shape, DT[dtype]) for _ in range(arity(op))]
            inputs[pos] = make_input(out)
            before = [a.copy() for a in inputs]
            assert FUNCS[op](*inputs, reduction, out=out) is out
            check(op, before, reduction, out)


@pytest.mark.parametrize("op", OPS)
def test_out_overlapping_an_input_above_the_parallel_threshold(op):
    n = cpu.parallel_threshold() + 4099
    rng = np.random.default_rng(57 + SEED[op])
    buf = rand(rng, (n + 1,), np.float32)
    inputs = [buf[1:]] + [rand(rng, (n,), np.float32) for _ in range(arity(op) - 1)]
    before = [a.copy() for a in inputs]
    reduction = elementwise_reductions(op)[-1]
    out = buf[:n]
    assert FUNCS[op](*inputs, reduction, out=out) is out
    check(op, before, reduction, out)


@pytest.mark.parametrize("op", [name for name, op in d.OPS.items() if op.is_loss])
@pytest.mark.parametrize("dtype", DTYPE_IDS)
def test_reduced_loss_out_inside_an_input(op, dtype):
    rng = np.random.default_rng(58 + SEED[op])
    for reduction in ["mean", "sum"]:
        p, l = rand(rng, (64,), DT[dtype]), rand(rng, (64,), DT[dtype])
        before = [p.copy(), l.copy()]
        out = p[10:11].reshape(())  # a 0-d view of one element of predict
        assert FUNCS[op](p, l, reduction, out=out) is out
        check(op, before, reduction, out)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", DTYPE_IDS)
@pytest.mark.parametrize("n", [1, 1000, 4099])
def test_out_that_is_an_input_is_computed_in_place(op, dtype, n):
    # out is exactly an input (same memory, shape and strides): elementwise in place, like a NumPy ufunc
    rng = np.random.default_rng(59 + SEED[op] + n)
    for reduction in elementwise_reductions(op):
        for pos in range(arity(op)):
            inputs = [rand(rng, (n,), DT[dtype]) for _ in range(arity(op))]
            before = [a.copy() for a in inputs]
            out = inputs[pos]
            assert FUNCS[op](*inputs, reduction, out=out) is out
            check(op, before, reduction, out)
    x = rand(rng, (n,), DT[dtype])
    before = x.copy()
    if arity(op) == 3:
        FUNCS[op](x, x, x, "sum", out=x)  # every input is the output
        check(op, [before] * 3, "sum", x)


# -- item 9: unaligned inputs and out= -------------------------------------------------

@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", DTYPE_IDS)
def test_unaligned_inputs_are_copied_before_the_kernel(op, dtype, spy):
    rng = np.random.default_rng(90 + SEED[op])
    shapes = [(6, 7), (7,), ()][:arity(op)]
    inputs = [rand(rng, s, DT[dtype]) for s in shapes]
    for reduction in ["none", "mean", "sum"]:
        for pos in range(arity(op)):
            moved = list(inputs)
            moved[pos] = unaligned(inputs[pos])
            check(op, inputs, reduction, FUNCS[op](*moved, reduction))
        both = [non_native(unaligned(a)) if k % 2 else unaligned(a) for k, a in enumerate(inputs)]
        check(op, inputs, reduction, FUNCS[op](*both, reduction))
    assert spy.seen and not spy.misaligned()


@pytest.mark.parametrize("dtype", DTYPE_IDS)
def test_reduce_to_copies_unaligned_inputs(dtype, spy):
    rng = np.random.default_rng(95)
    t = rand(rng, (5, 6), DT[dtype])
    for shape in [(6,), (5, 1), (5, 6)]:
        got = cpu.reduce_to(unaligned(t), shape)
        assert_close(got, reduce_to_ref(t, shape), DT[dtype], reduction_terms=64)
    assert spy.seen and not spy.misaligned()


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", DTYPE_IDS)
def test_unaligned_out_is_refused(op, dtype, spy):
    x = np.ones((2, 3), DT[dtype])
    for reduction in ["none", "sum"]:
        out = unaligned(np.zeros(d.OPS[op].output_shape((2, 3), reduction), DT[dtype]))
        with pytest.raises(ValueError) as info:
            FUNCS[op](*[x] * arity(op), reduction, out=out)
        assert "out" in str(info.value) and "aligned" in str(info.value)
        assert not out.astype(np.float64).any()
    assert not spy.seen


# -- item 10: what counts as a reduction ------------------------------------------------

BAD_REDUCTIONS = [np.array([[2]]), np.array([2]), np.array(2), np.array(1, np.int8), [2], (1,), 2.0,
                  np.float64(2.0), True, False, np.True_, 3, -1, np.int64(3), "SUM", "Mean", b"sum", None,
                  np.array("sum")]


@pytest.mark.parametrize("bad", BAD_REDUCTIONS, ids=[repr(b) for b in BAD_REDUCTIONS])
def test_only_names_and_integer_scalars_are_reductions(bad):
    x = np.ones((2, 3), np.float32)
    for op in OPS:
        with pytest.raises(ValueError) as info:
            FUNCS[op](*[x] * arity(op), bad)
        assert str(info.value) == d.MESSAGES["bad_reduction"].format(op=op, value=repr(bad))
    with pytest.raises(ValueError):
        d.normalize_reduction(bad)


GOOD_REDUCTIONS = [(0, "none"), (1, "mean"), (2, "sum"), (np.int8(0), "none"), (np.uint64(1), "mean"),
                   (np.int64(2), "sum"), (np.intc(2), "sum"), (np.str_("mean"), "mean")]


@pytest.mark.parametrize("value,name", GOOD_REDUCTIONS, ids=[repr(v) for v, _ in GOOD_REDUCTIONS])
def test_integer_scalars_and_names_are_reductions(value, name):
    assert d.normalize_reduction(value) == name
    rng = np.random.default_rng(100)
    for op in OPS:
        inputs = [rand(rng, (3, 4), np.float64) for _ in range(arity(op))]
        check(op, inputs, name, FUNCS[op](*inputs, value))

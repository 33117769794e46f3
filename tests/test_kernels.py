"""Native CPU kernels (framework.cpu) against the float64 NumPy reference."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lossgrad_ops.framework import cpu
from lossgrad_ops.framework import reference as ref
from lossgrad_ops.framework.arrays import bfloat16
from lossgrad_ops.framework.definitions import OPS as DEFS, promote_dtypes
from tests.helpers import ALL_DTYPES, DTYPE_IDS, REDUCTIONS, assert_close, rand, stable_seed

OPS = list(DEFS)  # every declared op
ARITY = {name: len(op.inputs) for name, op in DEFS.items()}


def f64(*arrays):
    return [np.asarray(a).astype(np.float64) for a in arrays]


def check(op: str, inputs, reduction: str) -> np.ndarray:
    """Run the kernel and compare it with the float64 reference; return the kernel output."""
    out = cpu.run(op, *inputs, reduction=reduction)
    expected = ref.run(op, *f64(*inputs), reduction=reduction)  # float64 math, no final rounding
    names = [ref.dtype_name(np.asarray(a).dtype) for a in inputs]
    dtype = np.dtype(ref.np_dtype(promote_dtypes(names)))
    reduced = DEFS[op].is_loss and reduction != "none"
    assert_close(out, expected, dtype, reduction_terms=64 if reduced else 1)
    return out


# -- shapes ------------------------------------------------------------------

BROADCAST_CASES = [
    # (shapes of the inputs, in op order); the third is dropped for the losses
    ((), (), ()),
    ((7,), (7,), (7,)),
    ((3, 4), (3, 4), ()),             # scalar dout/grads: fast path
    ((3, 4), (), (3, 4)),             # scalar label
    ((), (3, 4), (3, 4)),             # scalar predict
    ((2, 3, 4), (4,), (3, 1)),        # differing ranks and size-1 axes
    ((5, 1, 6), (1, 4, 1), (4, 6)),   # every input broadcast
    ((1,), (2, 1, 3), (2, 5, 1)),
    ((4, 1), (1, 4), (1,)),
    ((2, 1, 2, 1, 2, 1, 2, 1), (1, 2, 1, 2, 1, 2, 1, 2), (2,)),  # rank 8
    ((1, 1, 1, 1, 1, 1, 1, 1), (), (1,)),
]


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shapes", BROADCAST_CASES, ids=lambda s: "x".join(map(str, s)))
def test_broadcast_patterns(op, shapes, reduction, dtype):
    rng = np.random.default_rng(stable_seed(op, shapes, reduction, str(dtype)))
    inputs = [rand(rng, s, dtype) for s in shapes[:ARITY[op]]]
    check(op, inputs, reduction)


@pytest.mark.parametrize("rank", range(9))
@pytest.mark.parametrize("op", OPS)
def test_every_rank_equal_shapes(op, rank):
    rng = np.random.default_rng(rank)
    shape = tuple(rng.integers(1, 4, size=rank))
    for reduction in REDUCTIONS:
        check(op, [rand(rng, shape, np.float32) for _ in range(ARITY[op])], reduction)


MIXED = [
    (np.float16, bfloat16, np.float16),   # -> float32
    (np.float16, np.float32, np.float16),
    (bfloat16, np.float32, np.float64),
    (np.float64, np.float16, bfloat16),
]


@pytest.mark.parametrize("dtypes", MIXED, ids=lambda d: "-".join(np.dtype(x).name for x in d))
@pytest.mark.parametrize("op", OPS)
def test_mixed_dtypes_promote(op, dtypes):
    rng = np.random.default_rng(11)
    shapes = ((3, 5), (5,), (3, 1))
    inputs = [rand(rng, s, d) for s, d in zip(shapes, dtypes)][:ARITY[op]]
    for reduction in REDUCTIONS:
        out = check(op, inputs, reduction)
        names = [ref.dtype_name(a.dtype) for a in inputs]
        assert out.dtype == ref.np_dtype(promote_dtypes(names))
    if set(map(np.dtype, dtypes[:2])) == {np.dtype(np.float16), bfloat16}:
        assert out.dtype == np.float32


# -- special values and sizes -------------------------------------------------

@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("op", OPS)
def test_empty_shapes(op, dtype):
    rng = np.random.default_rng(0)
    shapes = [(0,), (3, 0), (3, 1)][:ARITY[op]]
    inputs = [rand(rng, s, dtype) for s in shapes]
    for reduction in REDUCTIONS:
        out = cpu.run(op, *inputs, reduction=reduction)
        expected = ref.run(op, *inputs, reduction=reduction)
        assert out.shape == expected.shape and out.dtype == expected.dtype
        if DEFS[op].is_loss and reduction == "sum":
            assert float(out) == 0.0
        elif DEFS[op].is_loss and reduction == "mean":
            assert np.isnan(float(out))
        else:
            assert out.shape == (3, 0) and out.size == 0


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("op", OPS)
def test_nan_and_inf_propagate(op, dtype):
    rng = np.random.default_rng(5)
    inputs = [rand(rng, (64,), dtype) for _ in range(ARITY[op])]
    specials = [np.nan, np.inf, -np.inf]
    for i, a in enumerate(inputs):
        a[i * 7:(i * 7) + 3] = np.array(specials).astype(dtype)
    for reduction in REDUCTIONS:
        check(op, inputs, reduction)
    # sign(NaN) = NaN and sign(0) = 0 for L1LossGrad
    if op == "L1LossGrad":
        g = np.ones(3, dtype)
        p = np.array([np.nan, 1.0, 2.0]).astype(dtype)
        l = np.array([0.0, 1.0, 3.0]).astype(dtype)
        out = cpu.l1_loss_grad(g, p, l, "sum").astype(np.float64)
        assert np.isnan(out[0]) and out[1] == 0.0 and out[2] == -1.0


@pytest.mark.parametrize("dtype", [np.dtype(np.float16), bfloat16, np.dtype(np.float32), np.dtype(np.float64)],
                         ids=["float16", "bfloat16", "float32", "float64"])
def test_l1_grad_sign_is_numpy_sign_bit_for_bit(dtype):
    """L1LossGrad's branch-free sign against numpy.sign in float64: every float16 / bfloat16 bit
    pattern, and for float32/float64 the zeros, subnormals, extremes, infinities and NaNs, with
    d = predict exactly (label 0, dout 1, scale 1), contiguous and strided. sign(±0) is +0 and
    sign(NaN) is NaN."""
    if dtype.itemsize == 2:
        p = np.arange(1 << 16, dtype=np.uint16).view(dtype)
    else:
        info = np.finfo(dtype)
        edges = [0.0, info.smallest_subnormal, info.tiny, 1.0, info.max, np.inf, np.nan]
        p = np.array(edges + [-x for x in edges], dtype)
    with np.errstate(invalid="ignore"):
        expected = np.sign(p.astype(np.float64)).astype(dtype).astype(np.float64)
    for strided in (False, True):  # the fused vector path, the general scalar path
        args = [np.repeat(x, 2)[::2] if strided else x for x in (np.ones_like(p), p, np.zeros_like(p))]
        got = cpu.l1_loss_grad(*args, "sum").astype(np.float64)  # (grads, predict, label)
        np.testing.assert_array_equal(got, expected, err_msg=f"strided={strided}")
        assert not np.signbit(got[got == 0]).any()


@pytest.mark.parametrize("op", OPS)
def test_non_contiguous_inputs(op):
    rng = np.random.default_rng(9)
    base = [rand(rng, (6, 8, 10), np.float32) for _ in range(3)]
    views = [
        [b[::2, 1:, ::3] for b in base],                 # sliced
        [b.transpose(2, 0, 1) for b in base],            # transposed
        [b[::-1, :, ::-2] for b in base],                # negative strides
        [base[0][:, :, 0], base[1][:1, :, 5], np.broadcast_to(base[2][0, 0, :8], (6, 8))],
        [np.asfortranarray(b.astype(np.float64)) for b in base],
    ]
    for inputs in views:
        inputs = inputs[:ARITY[op]]
        for reduction in REDUCTIONS:
            out = check(op, inputs, reduction)
            assert out.flags.c_contiguous
            # same values as with contiguous copies
            np.testing.assert_array_equal(out, cpu.run(op, *[np.ascontiguousarray(a) for a in inputs],
                                                       reduction=reduction))


def test_half_rounding_is_once_to_nearest_even():
    # p - l is exactly halfway between two float16 values; the kernel computes it
    # in fp32 (exactly) and must round to the even neighbour on store.
    predict = np.array([1.0, 1.0 + 2.0 ** -10], np.float16)
    label = np.array([-(2.0 ** -11), -(2.0 ** -11)], np.float16)
    dout = np.array(0.5, np.float16)  # * s = 2 (sum) -> factor 1
    out = cpu.mse_loss_grad(predict, label, dout, "sum")
    np.testing.assert_array_equal(out.astype(np.float64), [1.0, 1.0 + 2.0 ** -9])
    # bfloat16: 1 + 2^-8 is halfway between 1 and 1 + 2^-7
    b = np.dtype(bfloat16)
    out = cpu.l1_loss(np.array([1.0], b), np.array([-(2.0 ** -8)], b), "none")
    assert out.astype(np.float64)[0] == 1.0


def test_overflow_to_inf_in_half():
    big = np.array([60000.0], np.float16)
    out = cpu.mse_loss_grad(big, -big, np.array([1.0], np.float16), "sum")
    assert np.isposinf(out.astype(np.float64)).all()
    out = cpu.mse_loss(np.array([300.0], np.float16), np.array([0.0], np.float16), "sum")
    assert np.isposinf(float(out))  # 90000 > 65504


def test_mean_scale_uses_64bit_count_and_double_scale():
    # N = 70000 > 65504 (the fp16 bug of the anchors) -- the scale stays nonzero.
    n = 70000
    p = np.full(n, 1.5, np.float16)
    l = np.full(n, 0.5, np.float16)
    d = np.ones(n, np.float16)
    out = cpu.mse_loss_grad(p, l, d, "mean")
    assert np.all(out == np.float16(2.0 / n))
    out = cpu.l1_loss_grad(d, p, l, "mean")
    assert np.all(out == np.float16(1.0 / n))


# -- threading ----------------------------------------------------------------

@pytest.fixture
def restore_threads():
    before = cpu.num_threads()
    yield
    cpu.set_num_threads(before)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=DTYPE_IDS)
def test_large_sizes_bitwise_across_thread_counts(op, dtype, restore_threads):
    n = cpu.parallel_threshold() * 3 + 12345  # several tasks and an odd tail
    rng = np.random.default_rng(3)
    cases = [
        [rand(rng, (n,), dtype) for _ in range(ARITY[op])],                             # fast path
        [rand(rng, (n // 1000, 1000), dtype), rand(rng, (1000,), dtype), rand(rng, (n // 1000, 1), dtype)],
    ]
    for inputs in cases:
        inputs = inputs[:ARITY[op]]
        for reduction in REDUCTIONS:
            results = []
            for threads in (1, 2, 3):
                cpu.set_num_threads(threads)
                results.append(cpu.run(op, *inputs, reduction=reduction))
            for r in results[1:]:
                assert r.tobytes() == results[0].tobytes()
            check(op, inputs, reduction)


def test_thread_count_api(restore_threads):
    cpu.set_num_threads(3)
    assert cpu.num_threads() == 3
    cpu.set_num_threads(1)
    assert cpu.num_threads() == 1
    with pytest.raises(ValueError):
        cpu.set_num_threads(0)


# -- property-based -------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(data=st.data(),
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=8, min_side=0, max_side=3),
       op=st.sampled_from(OPS), reduction=st.sampled_from(REDUCTIONS),
       dtypes=st.tuples(*[st.sampled_from(ALL_DTYPES)] * 3))
def test_property_broadcasting(data, shapes, op, reduction, dtypes):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    inputs = [rand(rng, s, d) for s, d in zip(shapes.input_shapes, dtypes)][:ARITY[op]]
    out = check(op, inputs, reduction)
    bshape = np.broadcast_shapes(*[a.shape for a in inputs])
    if DEFS[op].is_loss and reduction != "none":
        assert out.shape == ()
    else:
        assert out.shape == bshape


def test_all_reductions_accept_aclnn_ints():
    rng = np.random.default_rng(1)
    x = [rand(rng, (4, 3), np.float32) for _ in range(3)]
    for i, name in enumerate(REDUCTIONS):
        for op in OPS:
            a = cpu.run(op, *x[:ARITY[op]], reduction=i)
            b = cpu.run(op, *x[:ARITY[op]], reduction=name)
            np.testing.assert_array_equal(a, b)


def test_preallocated_out_is_filled_and_checked():
    rng = np.random.default_rng(2)
    p, l, d = (rand(rng, (5, 4), np.float32) for _ in range(3))
    out = np.empty((5, 4), np.float32)
    res = cpu.mse_loss_grad(p, l, d, "none", out=out)
    assert res is out
    np.testing.assert_allclose(out, d * (p - l) * 2, rtol=1e-6)
    with pytest.raises(ValueError, match="out must be"):
        cpu.mse_loss_grad(p, l, d, "none", out=np.empty((4, 5), np.float32))
    with pytest.raises(ValueError, match="out must be"):
        cpu.mse_loss_grad(p, l, d, "none", out=np.empty((5, 4), np.float64))


@pytest.mark.parametrize("op", OPS)
def test_scalar_inputs(op):
    for dtype in ALL_DTYPES:
        inputs = [np.asarray(v).astype(dtype) for v in (1.5, -0.75, 3.0)][:ARITY[op]]
        for reduction in REDUCTIONS:
            out = check(op, inputs, reduction)
            assert out.shape == ()


def test_all_op_combinations_smoke():
    # Each (op, reduction, dtype) at a size that exercises vector bodies and tails.
    rng = np.random.default_rng(4)
    for op, reduction, dtype in itertools.product(OPS, REDUCTIONS, ALL_DTYPES):
        for n in (1, 7, 8, 9, 1023, 4099):
            check(op, [rand(rng, (n,), dtype) for _ in range(ARITY[op])], reduction)


@pytest.mark.parametrize("op", [name for name, op in DEFS.items() if op.is_loss])
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=DTYPE_IDS)
def test_reductions_are_layout_independent(op, dtype):
    """A strided input reduces to the same bits as its contiguous copy (the tiled and
    the fast path share one accumulation order), across sub-block and block edges."""
    rng = np.random.default_rng(8)
    p = rand(rng, (300, 2 * 257), dtype)[:, ::2]        # 300 x 257 strided, odd rows
    l = rand(rng, (257, 300), dtype).T                  # transposed
    for reduction in ("mean", "sum"):
        a = cpu.run(op, p, l, reduction=reduction)
        b = cpu.run(op, np.ascontiguousarray(p), np.ascontiguousarray(l), reduction=reduction)
        assert a.tobytes() == b.tobytes()
        check(op, [p, l], reduction)


REDUCE_TO_CASES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 4), (3, 1)), ((2, 3, 4), ()), ((2, 3, 4), (1, 3, 1)),
                   ((5, 1, 6), (1, 6)), ((2, 1, 2, 1, 2, 1, 2, 1), (2, 1)), ((0, 3), (3,)), ((4, 0), (1, 0))]


@pytest.mark.parametrize("in_dtype", ALL_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", REDUCE_TO_CASES, ids=str)
def test_reduce_to_sums_broadcast_axes(case, in_dtype):
    src_shape, dst_shape = case
    rng = np.random.default_rng(12)
    t = rand(rng, src_shape, in_dtype)
    lead = len(src_shape) - len(dst_shape)
    expected = t.astype(np.float64).sum(axis=tuple(range(lead))) if lead else t.astype(np.float64)
    axes = tuple(k for k, d in enumerate(dst_shape) if d == 1 and expected.shape[k] != 1)
    expected = expected.sum(axis=axes, keepdims=True) if axes else expected
    expected = np.broadcast_to(expected, dst_shape)
    # summation error is bounded relative to the sum of magnitudes, not the (cancelled) result
    terms = max(1, t.size // max(1, int(np.prod(dst_shape))))
    magnitude = float(np.abs(t.astype(np.float64)).max(initial=0.0)) * terms
    for out_dtype in (in_dtype, np.float64):
        out = cpu.reduce_to(t, dst_shape, out_dtype)
        assert out.shape == dst_shape
        atol = terms * np.finfo(np.float64).eps * magnitude  # accumulation is in float64
        assert_close(out, expected, out_dtype, reduction_terms=64, atol=atol)
    np.testing.assert_array_equal(cpu.reduce_to(t, dst_shape, negate=True), -cpu.reduce_to(t, dst_shape))
    # strided input gives the same bits
    wide = np.repeat(t, 2, axis=-1)[..., ::2] if t.ndim else t
    assert cpu.reduce_to(wide, dst_shape).tobytes() == cpu.reduce_to(t, dst_shape).tobytes()


def test_reduce_to_rejects_incompatible_shapes():
    with pytest.raises(ValueError, match="cannot reduce"):
        cpu.reduce_to(np.ones((3, 4), np.float32), (3,))
    with pytest.raises(ValueError, match="cannot reduce"):
        cpu.reduce_to(np.ones((4,), np.float32), (2, 4))


def test_forked_child_computes_without_the_parents_threads(restore_threads):
    """A fork() child inherits the pool but not its threads: it must still compute."""
    import os
    import signal
    cpu.set_num_threads(2)
    rng = np.random.default_rng(13)
    x = [rand(rng, (cpu.parallel_threshold() * 2,), np.float32) for _ in range(3)]
    expected = cpu.mse_loss_grad(*x)  # the parent's pool has run
    pid = os.fork()
    if pid == 0:  # child: exit 0 only if the result is right; never return into pytest
        code = 1
        try:
            signal.alarm(60)  # a hang becomes a failure
            code = 0 if cpu.mse_loss_grad(*x).tobytes() == expected.tobytes() else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status

"""MindSpore binding: values, first and second order gradients, modes, dtypes, errors.

References, all independent of framework.gradients:
  * MindSpore's own autodiff of ``ops.mse_loss`` / ``ops.l1_loss`` (float32/float64);
  * the same autodiff in float64 on upcast inputs, for float16/bfloat16 results;
  * MindSpore autodiff of the grad ops written as plain composites
    (``dout * (p - l) * s``), for the grads' own gradients;
  * the float64 NumPy reference (framework.reference) for forward values.
"""
from __future__ import annotations

import numpy as np
import pytest

import mindspore as ms
from mindspore import Tensor, nn, ops

from lossgrad_ops import ms_ops
from lossgrad_ops.framework import reference as ref
from lossgrad_ops.framework.arrays import bfloat16
from lossgrad_ops.framework.definitions import OPS
from lossgrad_ops.framework.registry import function_name
from tests.helpers import assert_close, ms_mode, rand

MODES = {"pynative": ms.PYNATIVE_MODE, "graph": ms.GRAPH_MODE}
MS_DT = {np.dtype(np.float16): ms.float16, bfloat16: ms.bfloat16, np.dtype(np.float32): ms.float32,
         np.dtype(np.float64): ms.float64}
FLOAT_DTYPES = [np.dtype(np.float16), bfloat16, np.dtype(np.float32), np.dtype(np.float64)]
DT_IDS = ["float16", "bfloat16", "float32", "float64"]


@pytest.fixture(params=list(MODES), autouse=False)
def mode(request):
    with ms_mode(MODES[request.param]):
        yield request.param


def T(a: np.ndarray) -> Tensor:
    a = np.asarray(a)
    if a.dtype == bfloat16:
        return Tensor(a.astype(np.float32), ms.bfloat16)
    return Tensor(a)


def N(t: Tensor) -> np.ndarray:
    if t.dtype == ms.bfloat16:
        return t.float().asnumpy().astype(bfloat16)
    return t.asnumpy()


def f64(a) -> np.ndarray:
    return np.asarray(a).astype(np.float64)


# ---------------------------------------------------------------------------
# Cells (graph mode compiles construct; PyNative runs it eagerly)

class Fwd(nn.Cell):
    def __init__(self, fn, reduction):
        super().__init__()
        self.fn = fn
        self.reduction = reduction

    def construct(self, *xs):
        return self.fn(*xs, self.reduction)


class LossCell(nn.Cell):
    def __init__(self, loss):
        super().__init__()
        self.loss = loss

    def construct(self, p, l):
        return self.loss(p, l)


class BuiltinLoss(nn.Cell):
    def __init__(self, kind, reduction):
        super().__init__()
        self.kind = kind
        self.reduction = reduction

    def construct(self, p, l):
        if self.kind == "mse":
            return ops.mse_loss(p, l, self.reduction)
        return ops.l1_loss(p, l, self.reduction)


class SumOut(nn.Cell):
    """Scalar objective with a fixed random cotangent: sum(net(*xs) * w)."""

    def __init__(self, net, w):
        super().__init__()
        self.net = net
        self.w = w

    def construct(self, *xs):
        # summed in float32: MindSpore's CPU ReduceSum has no bfloat16 kernel
        return ops.cast(self.net(*xs) * self.w, ms.float32).sum()


class GradSum(nn.Cell):
    """sum over inputs of sum(d net / d x_i * v_i): a scalar whose gradient is second order."""

    def __init__(self, net, nin, vs):
        super().__init__()
        self.grad = ops.GradOperation(get_all=True)
        self.net = net
        self.vs = vs
        self.nin = nin

    def construct(self, *xs):
        gs = self.grad(self.net)(*xs)
        # summed in float32 (no bfloat16 ReduceSum on CPU); the cast's gradient is exact
        total = ops.cast(gs[0] * self.vs[0], ms.float32).sum()
        for i in range(1, self.nin):
            total = total + ops.cast(gs[i] * self.vs[i], ms.float32).sum()
        return total


def grads(net, *xs):
    return ops.GradOperation(get_all=True)(net)(*xs)


# ---------------------------------------------------------------------------
# Forward values

FWD_SHAPES = [((3, 4), (3, 4), (3, 4)), ((2, 3, 4), (4,), ()), ((), (5, 1), (1, 6))]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DT_IDS)
def test_forward_values_all_ops(mode, dtype):
    rng = np.random.default_rng(0)
    fns = {op: getattr(ms_ops, function_name(op)) for op in OPS}  # every declared op, CANN order
    for shapes in FWD_SHAPES:
        for op, fn in fns.items():
            k = len(OPS[op].inputs)
            xs = [rand(rng, s, dtype) for s in shapes[:k]]
            for reduction in ("none", "mean", "sum"):
                out = Fwd(fn, reduction)(*[T(x) for x in xs])
                assert out.dtype == MS_DT[np.dtype(dtype)]
                reduced = OPS[op].is_loss and reduction != "none"
                assert_close(N(out), ref.run(op, *[f64(x) for x in xs], reduction=reduction), dtype,
                             reduction_terms=64 if reduced else 1)


def test_aclnn_argument_order_and_int_reductions(mode):
    rng = np.random.default_rng(1)
    g, x, t = (rand(rng, (4, 3), np.float32) for _ in range(3))
    for i, red in enumerate(("none", "mean", "sum")):
        a = Fwd(ms_ops.mse_loss_backward, i)(T(g), T(x), T(t))
        b = Fwd(ms_ops.mse_loss_grad, red)(T(x), T(t), T(g))
        np.testing.assert_array_equal(N(a), N(b))
        a = Fwd(ms_ops.l1_loss_backward, i)(T(g), T(x), T(t))
        b = Fwd(ms_ops.l1_loss_grad, red)(T(g), T(x), T(t))
        np.testing.assert_array_equal(N(a), N(b))


def test_mixed_dtypes_promote(mode):
    rng = np.random.default_rng(2)
    p = rand(rng, (3, 4), np.float16)
    l = rand(rng, (4,), bfloat16)
    d = rand(rng, (), np.float32)
    out = Fwd(ms_ops.mse_loss_grad, "mean")(T(p), T(l), T(d))
    assert out.dtype == ms.float32
    assert_close(N(out), ref.mse_loss_grad(f64(p), f64(l), f64(d)), np.float32)


@pytest.mark.parametrize("rank", range(9))
def test_every_rank_values_and_gradients(mode, rank):
    rng = np.random.default_rng(rank)
    shape = tuple(int(v) for v in rng.integers(1, 3, size=rank))
    p, l = rand(rng, shape, np.float32), rand(rng, shape[1:], np.float32)
    for red in ("none", "mean", "sum"):
        net = LossCell(ms_ops.MSELoss(red))
        assert_close(N(net(T(p), T(l))), ref.mse_loss(f64(p), f64(l), red), np.float32, reduction_terms=64)
        w = T(rand(rng, shape if red == "none" else (), np.float32))
        ours = grads(SumOut(net, w), T(p), T(l))
        theirs = grads(SumOut(BuiltinLoss("mse", red), w), T(p), T(l))
        for a, b in zip(ours, theirs):
            assert_close(N(a), N(b).astype(np.float64), np.float32, eps_factor=16)


# ---------------------------------------------------------------------------
# First-order gradients of the losses vs MindSpore's autodiff of its built-ins

GRAD_SHAPES = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((5, 1), (1, 6)), ((), (3,)), ((1, 2, 1, 2, 1, 2, 1, 2), (2,))]


def np_reduce_to(t: np.ndarray, shape) -> np.ndarray:
    """Sum t over the axes broadcasting added or expanded to reach it from ``shape``."""
    lead = t.ndim - len(shape)
    t = t.sum(axis=tuple(range(lead))) if lead else t
    axes = tuple(k for k, d in enumerate(shape) if d == 1 and t.shape[k] != 1)
    return t.sum(axis=axes, keepdims=True) if axes else t


def np_loss_grads(kind, reduction, p, l, w, round_to=None):
    """Float64 analytic gradients of sum(loss(p, l) * w) w.r.t. p and l.

    ``round_to``: round the elementwise gradient to this dtype before summing over
    broadcast axes, as a half-precision backward must (the grad op's output has
    the tensor's dtype); the sum itself stays exact.
    """
    b = np.broadcast_shapes(p.shape, l.shape)
    diff = np.broadcast_to(p - l, b)
    s = 1.0 / diff.size if reduction == "mean" else 1.0
    t = w * (2.0 * diff if kind == "mse" else np.sign(diff)) * s
    if round_to is not None:
        t = t.astype(round_to).astype(np.float64)
    return np_reduce_to(t, p.shape), -np_reduce_to(t, l.shape)


def _cotangent(rng, out_shape, dtype):
    return rand(rng, out_shape, dtype)


@pytest.mark.parametrize("kind", ["mse", "l1"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loss_gradients_match_builtin_autodiff(mode, kind, dtype):
    rng = np.random.default_rng(3)
    cell = ms_ops.MSELoss if kind == "mse" else ms_ops.L1Loss
    for ps, ls in GRAD_SHAPES:
        p, l = rand(rng, ps, dtype), rand(rng, ls, dtype)
        for red in ("none", "mean", "sum"):
            out_shape = np.broadcast_shapes(ps, ls) if red == "none" else ()
            w = T(_cotangent(rng, out_shape, dtype))
            ours = grads(SumOut(LossCell(cell(red)), w), T(p), T(l))
            theirs = grads(SumOut(BuiltinLoss(kind, red), w), T(p), T(l))
            exact = np_loss_grads(kind, red, f64(p), f64(l), f64(N(w)))
            for a, b, x, e in zip(ours, theirs, (p, l), exact):
                assert a.shape == x.shape and a.dtype == b.dtype
                # MindSpore's CPU autodiff of its float64 losses is only float32-accurate
                # (measured: 1.1e-7 relative), so it is compared at that precision ...
                assert_close(N(a), N(b).astype(np.float64), dtype, eps_factor=16, precision=np.float32)
                # ... and the exact float64 gradient at float64 precision.
                assert_close(N(a), e, dtype, eps_factor=16)


@pytest.mark.parametrize("kind", ["mse", "l1"])
@pytest.mark.parametrize("dtype", [np.float16, bfloat16], ids=["float16", "bfloat16"])
def test_half_gradients_match_float64_reference(mode, kind, dtype):
    rng = np.random.default_rng(4)
    cell = ms_ops.MSELoss if kind == "mse" else ms_ops.L1Loss
    for ps, ls in GRAD_SHAPES[:3]:
        p, l = rand(rng, ps, dtype), rand(rng, ls, dtype)
        for red in ("none", "mean", "sum"):
            out_shape = np.broadcast_shapes(ps, ls) if red == "none" else ()
            w = _cotangent(rng, out_shape, dtype)
            ours = grads(SumOut(LossCell(cell(red)), T(w)), T(p), T(l))
            exact = np_loss_grads(kind, red, f64(p), f64(l), f64(w), round_to=dtype)
            for a, e, x in zip(ours, exact, (p, l)):
                assert a.shape == x.shape and a.dtype == MS_DT[np.dtype(dtype)]
                # the broadcast-axis sum runs in float32 before one rounding to the half type
                assert_close(N(a), e, dtype, reduction_terms=64)


# ---------------------------------------------------------------------------
# The grad ops' own gradients vs autodiff of the same formula written as a composite

class MseGradComposite(nn.Cell):
    def __init__(self, reduction):
        super().__init__()
        self.reduction = reduction

    def construct(self, p, l, d):
        y = d * (p - l) * 2.0
        if self.reduction == "mean":
            y = y / y.size
        return y


class L1GradComposite(nn.Cell):
    def __init__(self, reduction):
        super().__init__()
        self.reduction = reduction

    def construct(self, g, p, l):
        y = g * ops.sign(p - l)
        if self.reduction == "mean":
            y = y / y.size
        return y


GRADOP_SHAPES = [((3, 4), (3, 4), (3, 4)), ((2, 3, 4), (4,), ()), ((5, 1), (1, 6), (6,))]


def _shapes_for(dtype, shapes, full=(np.float64,)):
    """Every shape case for the ``full`` dtypes; one (a different one) for each other dtype,
    as graph compiles are slow and the paths do not depend on the dtype beyond one case."""
    if np.dtype(dtype) in full:
        return shapes
    return [shapes[(DT_IDS.index(np.dtype(dtype).name) + 1) % len(shapes)]]


def _bcast(x, shape) -> np.ndarray:
    return np.broadcast_to(np.asarray(x, np.float64), shape)


def _scale(op_kind, reduction, shape) -> float:
    """SPEC's s: numerator / N for mean, numerator otherwise (2 for MSE, 1 for L1)."""
    num = 2.0 if op_kind == "mse" else 1.0
    return num / max(int(np.prod(shape)), 1) if reduction == "mean" else num


def _sum_atol(terms: np.ndarray, shape, dtype) -> float:
    """Absolute slack for a sum over broadcast axes whose terms may cancel: float32
    accumulation error (half types sum in float32) relative to the terms' magnitude."""
    eps = np.finfo(np.float32).eps if np.dtype(dtype) in (np.float16, bfloat16) else np.finfo(dtype).eps
    return 64 * eps * float(np.max(np_reduce_to(np.abs(terms), shape), initial=0.0))


def np_grad_op_grads(kind, reduction, xs, w, round_to):
    """Float64 gradients of sum(GradOp(*xs) * w) w.r.t. each input, with the elementwise
    term rounded to ``round_to`` before the broadcast-axis sum (the grad op it comes
    from stores ``round_to``), and the terms, for the cancellation slack."""
    b = np.broadcast_shapes(*(x.shape for x in xs))
    s = _scale(kind, reduction, b)
    w = _bcast(w, b)
    rnd = lambda t: t.astype(round_to).astype(np.float64)  # noqa: E731
    if kind == "mse":
        p, l, d = (_bcast(x, b) for x in xs)
        gds, m = rnd(w * d * s), rnd(w * (p - l) * s)
        return [np_reduce_to(gds, xs[0].shape), -np_reduce_to(gds, xs[1].shape), np_reduce_to(m, xs[2].shape)], \
            [gds, gds, m]
    gr, p, l = (_bcast(x, b) for x in xs)
    t = rnd(w * np.sign(p - l) * s)
    return [np_reduce_to(t, xs[0].shape), np.zeros(xs[1].shape), np.zeros(xs[2].shape)], [t, t, t]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DT_IDS)
def test_grad_ops_are_differentiable(mode, dtype):
    rng = np.random.default_rng(5)
    for shapes in _shapes_for(dtype, GRADOP_SHAPES, full=(np.float32, np.float64)):
        xs = [rand(rng, s, dtype) for s in shapes]
        for red in ("none", "mean", "sum"):
            w = T(rand(rng, np.broadcast_shapes(*shapes), dtype))
            for kind, ours_fn, comp, xin in (("mse", ms_ops.mse_loss_grad, MseGradComposite, xs),
                                             ("l1", ms_ops.l1_loss_grad, L1GradComposite, [xs[2], xs[0], xs[1]])):
                ours = grads(SumOut(Fwd(ours_fn, red), w), *[T(x) for x in xin])
                exact, terms = np_grad_op_grads(kind, red, [f64(x) for x in xin], f64(N(w)), dtype)
                for a, e, t, x in zip(ours, exact, terms, xin):
                    assert a.shape == x.shape and a.dtype == MS_DT[np.dtype(dtype)]
                    assert_close(N(a), e, dtype, eps_factor=16, reduction_terms=64,
                                 atol=_sum_atol(t, x.shape, dtype))
                if np.dtype(dtype) not in (np.float32, np.float64):
                    continue  # MindSpore's CPU Sub/ReduceSum have no bfloat16: no composite
                # reference: autodiff of the composite in float64 on the same values
                theirs = grads(SumOut(comp(red), T(f64(N(w)))), *[T(f64(x)) for x in xin])
                for a, b, x in zip(ours, theirs, xin):
                    assert a.shape == x.shape
                    e = N(b)
                    # broadcast-axis sums may cancel: allow float32 rounding of the largest term
                    atol = 64 * np.finfo(dtype).eps * float(np.abs(e).max(initial=0.0))
                    assert_close(N(a), e, dtype, eps_factor=16, atol=atol)


# ---------------------------------------------------------------------------
# Second order: d/dx of (sum_i <d loss/d x_i, v_i>) vs float64 references, every dtype,
# both modes. A half-type second derivative is its float32 value rounded once: the
# cotangents in between are carried in float32 (ms_ops.primitives._cotangent_dtype).

def np_loss_second_order(kind, reduction, p, l, w, vp, vl):
    """Float64 d/d(p, l) of sum(dL/dp * vp) + sum(dL/dl * vl), L = sum(loss(p, l) * w).

    MSE: dL/dp = R_p(s w 2(p - l)), so the objective is sum(2 s w (p - l)(Bvp - Bvl)) and
    its gradient is (R_p(q), -R_l(q)) with q = 2 s w (Bvp - Bvl). L1: sign is piecewise
    constant, the second derivative is 0. Also returns q, for the cancellation slack.
    """
    b = np.broadcast_shapes(p.shape, l.shape)
    if kind == "l1":
        return [np.zeros(p.shape), np.zeros(l.shape)], np.zeros(b)
    q = _scale("mse", reduction, b) * _bcast(w, b) * (_bcast(vp, b) - _bcast(vl, b))
    return [np_reduce_to(q, p.shape), -np_reduce_to(q, l.shape)], q


def np_mse_grad_second_order(reduction, p, l, d, w, vp, vl, vd):
    """Float64 d/d(p, l, d) of sum_i <d S/d x_i, v_i>, S = sum(MseLossGrad(p, l, d) * w).

    dS/dp = R_p(s w d), dS/dl = -R_l(s w d), dS/dd = R_d(s w (p - l)), so the objective is
    sum(s w d (Bvp - Bvl)) + sum(s w (p - l) Bvd): its gradient is (R_p(s w Bvd),
    -R_l(s w Bvd), R_d(s w (Bvp - Bvl))). Returns the gradients and their terms.
    """
    b = np.broadcast_shapes(p.shape, l.shape, d.shape)
    sw = _scale("mse", reduction, b) * _bcast(w, b)
    q, r = sw * _bcast(vd, b), sw * (_bcast(vp, b) - _bcast(vl, b))
    return [np_reduce_to(q, p.shape), -np_reduce_to(q, l.shape), np_reduce_to(r, d.shape)], [q, q, r]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("kind", ["mse", "l1"])
def test_second_order_gradients_match_builtin(mode, kind, dtype):
    rng = np.random.default_rng(6)
    cell = ms_ops.MSELoss if kind == "mse" else ms_ops.L1Loss
    for ps, ls in _shapes_for(dtype, GRAD_SHAPES):  # rank 0 to 8
        p, l = rand(rng, ps, dtype), rand(rng, ls, dtype)
        for red in ("none", "mean", "sum"):
            out_shape = np.broadcast_shapes(ps, ls) if red == "none" else ()
            w = _cotangent(rng, out_shape, dtype)
            v = (rand(rng, ps, dtype), rand(rng, ls, dtype))
            vs = tuple(T(x) for x in v)
            ours = grads(GradSum(SumOut(LossCell(cell(red)), T(w)), 2, vs), T(p), T(l))
            exact, q = np_loss_second_order(kind, red, f64(p), f64(l), f64(w), *map(f64, v))
            for a, e, x in zip(ours, exact, (p, l)):
                assert a.shape == x.shape and a.dtype == MS_DT[np.dtype(dtype)]
                assert_close(N(a), e, dtype, eps_factor=16, reduction_terms=64, atol=_sum_atol(q, x.shape, dtype))
            if np.dtype(dtype) != np.float64:
                continue  # the built-ins have no bfloat16 on CPU; float64 is their most precise
            theirs = grads(GradSum(SumOut(BuiltinLoss(kind, red), T(w)), 2, vs), T(p), T(l))
            for a, b in zip(ours, theirs):  # the built-in's float64 autodiff is float32-accurate
                assert_close(N(a), N(b), dtype, eps_factor=16, precision=np.float32)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DT_IDS)
def test_second_order_of_grad_ops_vs_composite(mode, dtype):
    rng = np.random.default_rng(7)
    shapes = ((2, 3, 4), (4,), (3, 1))
    xs = [rand(rng, s, dtype) for s in shapes]
    w = rand(rng, (2, 3, 4), dtype)
    v = [rand(rng, s, dtype) for s in shapes]
    vs = tuple(T(x) for x in v)
    for red in ("none", "mean", "sum"):
        ours = grads(GradSum(SumOut(Fwd(ms_ops.mse_loss_grad, red), T(w)), 3, vs), *[T(x) for x in xs])
        exact, terms = np_mse_grad_second_order(red, *map(f64, xs), f64(w), *map(f64, v))
        for a, e, t, x in zip(ours, exact, terms, xs):
            assert a.shape == x.shape and a.dtype == MS_DT[np.dtype(dtype)]
            assert_close(N(a), e, dtype, eps_factor=16, reduction_terms=64, atol=_sum_atol(t, x.shape, dtype))
        # L1LossGrad(grads, predict, label): sign is piecewise constant, so every second
        # derivative is 0 (grads enters linearly)
        l1 = grads(GradSum(SumOut(Fwd(ms_ops.l1_loss_grad, red), T(w)), 3, vs), *[T(x) for x in xs])
        for a, x in zip(l1, xs):
            assert a.shape == x.shape and a.dtype == MS_DT[np.dtype(dtype)]
            np.testing.assert_array_equal(N(a).astype(np.float64), np.zeros(x.shape))
        if np.dtype(dtype) != np.float64:
            continue  # the composite needs Sub/ReduceSum, which MindSpore's CPU lacks for bfloat16
        theirs = grads(GradSum(SumOut(MseGradComposite(red), T(w)), 3, vs), *[T(x) for x in xs])
        for a, b in zip(ours, theirs):
            assert_close(N(a), N(b), dtype, eps_factor=16)


def test_gradient_against_finite_differences():
    rng = np.random.default_rng(8)
    p, l = rand(rng, (3, 4), np.float64), rand(rng, (4,), np.float64)
    net = SumOut(LossCell(ms_ops.MSELoss("mean")), T(np.float64(1.0)))
    gp, gl = grads(net, T(p), T(l))
    eps = 1e-6
    for arr, g, which in ((p, gp, 0), (l, gl, 1)):
        fd = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            hi, lo = arr.copy(), arr.copy()
            hi[idx] += eps
            lo[idx] -= eps
            args_hi = (hi, l) if which == 0 else (p, hi)
            args_lo = (lo, l) if which == 0 else (p, lo)
            fd[idx] = (ref.mse_loss(*args_hi) - ref.mse_loss(*args_lo)) / (2 * eps)
        np.testing.assert_allclose(N(g), fd, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------------------
# Modes, dynamic shapes, jit, training

def test_mindspore_jit():
    rng = np.random.default_rng(9)
    p, l = rand(rng, (4, 5), np.float32), rand(rng, (5,), np.float32)

    @ms.jit
    def step(a, b):
        return ms_ops.mse_loss(a, b, "sum"), ms.grad(ms_ops.mse_loss, grad_position=0)(a, b, "sum")

    loss, g = step(T(p), T(l))
    assert_close(N(loss), ref.mse_loss(f64(p), f64(l), "sum"), np.float32, reduction_terms=64)
    assert_close(N(g), ref.mse_loss_grad(f64(p), f64(l), 1.0, "sum"), np.float32)


def test_graph_mode_dynamic_shapes():
    with ms_mode(ms.GRAPH_MODE):
        net = Fwd(ms_ops.mse_loss_grad, "mean")
        net.set_inputs(Tensor(shape=[None, 3], dtype=ms.float32), Tensor(shape=[3], dtype=ms.float32),
                       Tensor(shape=[None, 1], dtype=ms.float32))
        rng = np.random.default_rng(10)
        for rows in (2, 5, 1):
            xs = [rand(rng, (rows, 3), np.float32), rand(rng, (3,), np.float32), rand(rng, (rows, 1), np.float32)]
            out = net(*[T(x) for x in xs])
            assert out.shape == (rows, 3)
            assert_close(N(out), ref.mse_loss_grad(*[f64(x) for x in xs]), np.float32)
        loss = LossCell(ms_ops.MSELoss("sum"))
        loss.set_inputs(Tensor(shape=[None, 4], dtype=ms.float32), Tensor(shape=[None, 4], dtype=ms.float32))
        for rows in (3, 7):
            p, l = rand(rng, (rows, 4), np.float32), rand(rng, (rows, 4), np.float32)
            assert_close(N(loss(T(p), T(l))), ref.mse_loss(f64(p), f64(l), "sum"), np.float32, reduction_terms=64)


def test_bfloat16_training_step_on_cpu(mode):
    """bfloat16 end to end: MindSpore's built-in losses cannot do this on CPU."""
    rng = np.random.default_rng(11)
    p, l = rand(rng, (8, 4), bfloat16), rand(rng, (8, 4), bfloat16)
    for cell in (ms_ops.MSELoss(), ms_ops.L1Loss()):
        gp, gl = grads(LossCell(cell), T(p), T(l))
        assert gp.dtype == ms.bfloat16 and gl.dtype == ms.bfloat16
        op = ref.mse_loss_grad if isinstance(cell, ms_ops.MSELoss) else None
        expected = (ref.mse_loss_grad(f64(p), f64(l), 1.0) if op else ref.l1_loss_grad(1.0, f64(p), f64(l)))
        assert_close(N(gp), expected, bfloat16)
        assert_close(N(gl), -expected, bfloat16)


# ---------------------------------------------------------------------------
# Errors, in both modes

def test_errors_in_both_modes(mode):
    x = T(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"reduction must be one of .*got 'avg'"):
        Fwd(ms_ops.mse_loss, "avg")(x, x)
    with pytest.raises(ValueError, match=r"got 3"):
        Fwd(ms_ops.l1_loss_grad, 3)(x, x, x)
    with pytest.raises(TypeError, match=r"label has dtype int32; supported dtypes are float16, bfloat16"):
        Fwd(ms_ops.mse_loss_grad, "mean")(x, Tensor(np.ones((2, 3), np.int32)), x)
    with pytest.raises(TypeError, match=r"target has dtype bool"):
        Fwd(ms_ops.l1_loss, "sum")(x, Tensor(np.ones((2, 3), np.bool_)))
    with pytest.raises(ValueError, match=r"shapes are not broadcastable: input \(2, 3\), target \(4,\)"):
        Fwd(ms_ops.mse_loss, "none")(x, T(np.ones(4, np.float32)))
    with pytest.raises(ValueError, match=r"grad_output has rank 9"):
        Fwd(ms_ops.mse_loss_backward, "sum")(T(np.ones((1,) * 9, np.float32)), x, x)
    with pytest.raises(ValueError, match="reduction must be one of"):
        ms_ops.MSELoss("elementwise")


def test_graph_mode_dynamic_shape_gradients():
    with ms_mode(ms.GRAPH_MODE):
        rng = np.random.default_rng(14)
        for cell, kind in ((ms_ops.MSELoss("mean"), "mse"), (ms_ops.L1Loss("sum"), "l1")):
            wrapped = _GradAll(LossCell(cell))
            wrapped.set_inputs(Tensor(shape=[None, 3], dtype=ms.float32), Tensor(shape=[3], dtype=ms.float32))
            for rows in (2, 6):
                p, l = rand(rng, (rows, 3), np.float64), rand(rng, (3,), np.float64)
                gp, gl = wrapped(T(p.astype(np.float32)), T(l.astype(np.float32)))
                red = "mean" if kind == "mse" else "sum"
                ep, el = np_loss_grads(kind, red, f64(p.astype(np.float32)), f64(l.astype(np.float32)), 1.0)
                assert gp.shape == (rows, 3) and gl.shape == (3,)
                assert_close(N(gp), ep, np.float32, eps_factor=16)
                assert_close(N(gl), el, np.float32, eps_factor=16, atol=1e-6)


class _GradAll(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net
        self.grad = ops.GradOperation(get_all=True)

    def construct(self, p, l):
        return self.grad(self.net)(p, l)


# ---------------------------------------------------------------------------
# Non-tensor arguments (issue 8, item 11): a TypeError naming the argument, in both modes

#: every public callable of ms_ops -> (how to call it with tensors xs, its tensor argument names)
PUBLIC_API = {
    "mse_loss_grad": (lambda xs: Fwd(ms_ops.mse_loss_grad, "mean")(*xs), ("predict", "label", "dout")),
    "l1_loss_grad": (lambda xs: Fwd(ms_ops.l1_loss_grad, "mean")(*xs), ("grads", "predict", "label")),
    "mse_loss_backward": (lambda xs: Fwd(ms_ops.mse_loss_backward, "mean")(*xs), ("grad_output", "input", "target")),
    "l1_loss_backward": (lambda xs: Fwd(ms_ops.l1_loss_backward, "mean")(*xs), ("grad_output", "input", "target")),
    "mse_loss": (lambda xs: Fwd(ms_ops.mse_loss, "sum")(*xs), ("input", "target")),
    "l1_loss": (lambda xs: Fwd(ms_ops.l1_loss, "none")(*xs), ("input", "target")),
    "MSELoss": (lambda xs: LossCell(ms_ops.MSELoss())(*xs), ("logits", "labels")),
    "L1Loss": (lambda xs: ms_ops.L1Loss("sum")(*xs), ("logits", "labels")),  # the Cell itself, top level
    "smooth_l1_loss_grad": (lambda xs: Fwd(ms_ops.smooth_l1_loss_grad, "sum")(*xs), ("predict", "label", "dout")),
    "smooth_l1_loss_backward": (lambda xs: Fwd(ms_ops.smooth_l1_loss_backward, "none")(*xs),
                                ("grad_output", "input", "target")),
    "smooth_l1_loss": (lambda xs: Fwd(ms_ops.smooth_l1_loss, "mean")(*xs), ("input", "target")),
    "SmoothL1Loss": (lambda xs: LossCell(ms_ops.SmoothL1Loss(0.5))(*xs), ("logits", "labels")),
}


def test_public_api_table_is_complete():
    assert sorted(PUBLIC_API) == sorted(ms_ops.__all__)


@pytest.mark.parametrize("name", sorted(PUBLIC_API))
def test_non_tensor_arguments_are_type_errors(mode, name):
    call, args = PUBLIC_API[name]
    x = T(np.full((2, 3), 0.5, np.float32))
    for i, arg in enumerate(args):
        for bad, type_name in ((np.ones((2, 3), np.float32), "ndarray"), (1.5, "float")):
            xs = [x] * len(args)
            xs[i] = bad
            with pytest.raises(TypeError, match=rf": {arg} must be a mindspore\.Tensor; got {type_name}$"):
                call(xs)
    # the same call with tensors works
    assert call([x] * len(args)).dtype == ms.float32


# ---------------------------------------------------------------------------
# Graph mode, dynamic shapes, shapes that do not broadcast at run time (issue 8, item 8)

class _Dyn3(nn.Cell):
    def construct(self, p, l, d):
        return ms_ops.mse_loss_grad(p, l, d, "mean")


def _dynamic_net():
    net = _Dyn3()
    net.set_inputs(Tensor(shape=[None, 3], dtype=ms.float32), Tensor(shape=[None, 3], dtype=ms.float32),
                   Tensor(shape=[None, 1], dtype=ms.float32))
    return net


def _dyn_call(net, rows_p, rows_l, rng):
    xs = [rand(rng, (rows_p, 3), np.float32), rand(rng, (rows_l, 3), np.float32), rand(rng, (rows_p, 1), np.float32)]
    out = net(*[T(x) for x in xs])
    assert_close(N(out), ref.mse_loss_grad(*[f64(x) for x in xs]), np.float32)


@pytest.fixture
def graph_mode():
    with ms_mode(ms.GRAPH_MODE):
        yield


def test_dynamic_shapes_that_do_not_broadcast_name_the_shapes(graph_mode):
    """The shape inference of the kernel refuses them with SPEC's message before the kernel
    runs. MindSpore 2.10 turns any error of an aot InferShape into a RuntimeError (its
    CustomInferShapeByCPP catches std::exception), so the class is RuntimeError; the text
    carries the ValueError message naming every shape."""
    rng = np.random.default_rng(15)
    net = _dynamic_net()
    _dyn_call(net, 2, 2, rng)
    with pytest.raises(RuntimeError, match=r"MseLossGrad: shapes are not broadcastable: "
                                           r"predict \(2, 3\), label \(3, 3\), dout \(2, 1\)"):
        _dyn_call(net, 2, 3, rng)
    # the library and its primitives are unharmed: a new network on the same primitive works
    net2 = _dynamic_net()
    for rows in (4, 1):
        _dyn_call(net2, rows, rows, rng)


@pytest.mark.parametrize("api", ["mse_loss_backward", "MSELoss"])
def test_dynamic_shape_errors_name_the_callers_arguments(graph_mode, api):
    """As at compile time, the run-time shape error names the arguments of the API called."""
    dyn = Tensor(shape=[None, 3], dtype=ms.float32)
    if api == "MSELoss":
        net, names = LossCell(ms_ops.MSELoss("sum")), ("logits", "labels")
        net.set_inputs(dyn, dyn)
        shapes = [(2, 3), (3, 3)]
    else:
        net, names = Fwd(ms_ops.mse_loss_backward, "none"), ("grad_output", "input", "target")
        net.set_inputs(dyn, dyn, dyn)
        shapes = [(3, 3), (2, 3), (2, 3)]  # grad_output is the one that does not broadcast
    in_op_order = names if api == "MSELoss" else (names[1], names[2], names[0])
    shape_of = dict(zip(names, shapes))
    listed = ", ".join(rf"{n} \({shape_of[n][0]}, 3\)" for n in in_op_order)
    with pytest.raises(RuntimeError, match=rf"shapes are not broadcastable: {listed}"):
        net(*[T(np.ones(s, np.float32)) for s in shapes])


@pytest.mark.xfail(strict=True, raises=RuntimeError, reason=(
    "MindSpore 2.10's graph runtime marks a compiled graph failed after any error while it runs "
    "(GraphScheduler::Run sets ActorSet::is_execution_failed_; later runs raise 'Model execution error'), "
    "for its own ops too (a Mul with dynamic shapes that do not broadcast does the same); an op cannot "
    "stop the graph without it"))
def test_a_bad_dynamic_call_does_not_poison_the_network(graph_mode):
    rng = np.random.default_rng(16)
    net = _dynamic_net()
    _dyn_call(net, 2, 2, rng)
    with pytest.raises(RuntimeError, match="shapes are not broadcastable"):
        _dyn_call(net, 2, 3, rng)
    _dyn_call(net, 4, 4, rng)

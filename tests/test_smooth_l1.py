"""The SmoothL1 family on the NumPy and MindSpore faces, against PyTorch in float64.

PyTorch (the test extra) is the independent oracle: ``torch.nn.functional.smooth_l1_loss``
for the loss, ``aten.smooth_l1_loss_backward`` for the gradient op, and torch's autograd
(its own double-backward formulas) for first and second order. Every comparison runs the
oracle in float64 on the inputs as the kernel saw them (rounded to the tested dtype):
float64 must agree to 1e-12 relative, float32 to a few ulps, the half types within one
rounding of the float32 result.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import mindspore as ms
from mindspore import nn

from lossgrad_ops import ms_ops
from lossgrad_ops.framework import cpu
from lossgrad_ops.framework import reference as ref
from lossgrad_ops.framework.arrays import bfloat16
from lossgrad_ops.framework.definitions import REDUCTIONS
from tests.helpers import assert_close, stable_seed
from tests.test_ms_ops import (DT_IDS, FLOAT_DTYPES, MS_DT, GradSum, LossCell, N, SumOut, T, f64, grads,  # noqa: F401
                               mode)

BETAS = [0.0, 0.25, 1.0, 3.0]
#: (predict, label, dout) shapes: equal, broadcast both ways, rank 0 against rank 3
SHAPES = [((3, 4), (3, 4), (3, 4)), ((2, 3, 4), (4,), (3, 1)), ((), (2, 1, 3), (2, 4, 1))]


def inputs(seed, shapes, dtype):
    """Random inputs of ``dtype`` whose differences straddle every beta (|d| from 0 to 4) and are
    never exactly 0 (where PyTorch's beta = 0 gradient is 0/0)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(-2.0, 2.0, shapes[0]).astype(dtype)
    l = rng.uniform(-2.0, 2.0, shapes[1]).astype(dtype)
    b = np.broadcast_shapes(shapes[0], shapes[1])
    same = np.broadcast_to(p, b).astype(np.float64) == np.broadcast_to(l, b).astype(np.float64)
    if same.any():
        l = (l.astype(np.float64) + 0.375).astype(dtype)
    d = rng.uniform(0.25, 2.0, shapes[2]).astype(dtype)
    return p, l, d


def t64(x):
    return torch.tensor(f64(x), dtype=torch.float64, requires_grad=True)


def torch_loss(p, l, reduction, beta):
    P, L = torch.broadcast_tensors(p, l)
    return torch.nn.functional.smooth_l1_loss(P, L, reduction=reduction, beta=beta)


def torch_loss_grad(p, l, dout, reduction, beta):
    P, L, D = torch.broadcast_tensors(p, l, dout)
    return torch.ops.aten.smooth_l1_loss_backward(D, P, L, REDUCTIONS.index(reduction), beta)


def torch_orders(fn, xs, w, vs):
    """(value, first-order gradients of sum(fn * w), second-order gradients of sum_i <first_i, v_i>)."""
    xs = [t64(x) for x in xs]
    y = fn(*xs)
    first = torch.autograd.grad((y * torch.tensor(f64(w))).sum(), xs, create_graph=True)
    obj = sum((g * torch.tensor(f64(v))).sum() for g, v in zip(first, vs))
    second = torch.autograd.grad(obj, xs, allow_unused=True, materialize_grads=True)
    return y.detach().numpy(), [g.detach().numpy() for g in first], [g.detach().numpy(force=True) for g in second]


#: the relative rounding error of a half type
HALF_U = {np.dtype(np.float16): 2.0 ** -11, bfloat16: 2.0 ** -8}


def check(actual, expected, dtype, terms=1, rounded=0.0):
    """float64: 1e-12 relative (of the largest magnitude, for sums that cancel); else assert_close.
    ``rounded``: the sum of the magnitudes of half-type terms a gradient sums after the op that
    made them rounded each to ``dtype`` (one rounding each, on top of the result's own)."""
    expected = np.asarray(expected, np.float64)
    if np.dtype(dtype) == np.float64:
        assert np.asarray(actual).dtype == np.float64 and np.shape(actual) == expected.shape
        scale = float(np.max(np.abs(expected), initial=0.0))
        np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12 * scale)
    else:
        atol = 32 * np.finfo(np.float32).eps * float(np.max(np.abs(expected), initial=0.0)) * terms
        atol += HALF_U.get(np.dtype(dtype), 0.0) * rounded
        assert_close(actual, expected, dtype, eps_factor=16, reduction_terms=64 if terms > 1 else 1, atol=atol)


# ---------------------------------------------------------------------------
# the float64 reference and the NumPy face

@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_reference_is_pytorch(shapes, beta):
    p, l, d = inputs(stable_seed("ref", beta), shapes, np.float64)
    for red in REDUCTIONS:
        check(ref.smooth_l1_loss(p, l, red, beta), torch_loss(t64(p), t64(l), red, beta).detach().numpy(),
              np.float64)
        check(ref.smooth_l1_loss_grad(p, l, d, red, beta),
              torch_loss_grad(t64(p), t64(l), t64(d), red, beta).detach().numpy(), np.float64)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_numpy_face_matches_pytorch(shapes, beta, dtype):
    p, l, d = inputs(stable_seed("cpu", beta, str(dtype)), shapes, dtype)
    for red in REDUCTIONS:
        y = torch_loss_grad(t64(p), t64(l), t64(d), red, beta).detach().numpy()
        check(cpu.smooth_l1_loss_grad(p, l, d, reduction=red, beta=beta), y, dtype)
        loss = torch_loss(t64(p), t64(l), red, beta).detach().numpy()
        check(cpu.smooth_l1_loss(p, l, reduction=red, beta=beta), loss, dtype, terms=1 if red == "none" else 64)


def test_large_input_above_the_parallel_threshold():
    p, l, d = inputs(stable_seed("large"), ((1 << 20) + 3,) * 3, np.float32)
    for beta in (0.0, 0.5):
        check(cpu.smooth_l1_loss_grad(p, l, d, reduction="mean", beta=beta),
              torch_loss_grad(t64(p), t64(l), t64(d), "mean", beta).detach().numpy(), np.float32)
        check(cpu.smooth_l1_loss(p, l, reduction="sum", beta=beta),
              torch_loss(t64(p), t64(l), "sum", beta).detach().numpy(), np.float32, terms=64)


@pytest.mark.parametrize("bad, exc, words", [
    (-0.5, ValueError, "beta must be a number >= 0; got -0.5"),
    (float("nan"), ValueError, "beta must be a number >= 0; got nan"),
    ("1.0", TypeError, "beta must be a real number"),
    (True, TypeError, "beta must be a real number"),
])
def test_bad_beta_is_refused_naming_it(bad, exc, words):
    x = np.ones(3, np.float32)
    for fn, args in ((cpu.smooth_l1_loss_grad, (x, x, x)), (cpu.smooth_l1_loss, (x, x)),
                     (ref.smooth_l1_loss, (x, x))):
        with pytest.raises(exc, match=words.replace("(", r"\(").replace(".", r"\.")):
            fn(*args, beta=bad)


#: betas exact in float32 (the compute type of every dtype but float64): 0, a float32 subnormal,
#: one with an inexact reciprocal (a true division), powers of two (a multiplication), infinity
EDGE_BETAS = [0.0, 2.0 ** -140, 0.375, 1.0, 4.0, float("inf")]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("beta", EDGE_BETAS, ids=str)
def test_grad_edges_and_special_values_are_exact(beta, dtype):
    """g(d) at the edges of |d| < beta and at ±0, ±inf and NaN, bit for bit against the float64
    reference rounded to the compute type, then to the dtype (one rounding of d / beta: float64
    division of float32 operands rounded to float32 is float32's correctly rounded division).
    Contiguous inputs take the vectorized kernel (body and tail), strided ones the general path."""
    compute = np.float64 if dtype == np.float64 else np.float32
    b = compute(beta)
    near = [b, -b, np.nextafter(b, compute(0)), np.nextafter(b, compute(np.inf)), b / 2, -b * 3]
    specials = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-30, -1e30, 1.0, -1.0, 2.5, 65504.0, -7.0]
    with np.errstate(over="ignore"):  # -1e30 is -inf in the half types
        d = np.array(([x for x in near if np.isfinite(x)] + specials) * 7, np.float64).astype(dtype)
    label, dout = np.zeros_like(d), np.ones_like(d)  # predict - label = d exactly; dout * s = 1
    expected = ref.smooth_l1_loss_grad(d.astype(np.float64), label.astype(np.float64), dout.astype(np.float64),
                                       "sum", beta).astype(compute).astype(dtype)
    for strided in (False, True):
        args = [np.repeat(x, 2)[::2] if strided else x for x in (d, label, dout)]
        got = cpu.smooth_l1_loss_grad(*args, reduction="sum", beta=beta)
        np.testing.assert_array_equal(got.astype(np.float64), expected.astype(np.float64),
                                      err_msg=f"beta={beta} strided={strided}")
        same_sign = np.signbit(got.astype(np.float64)) == np.signbit(expected.astype(np.float64))
        assert same_sign[~np.isnan(expected.astype(np.float64))].all(), f"sign of zero, beta={beta}"


def test_integer_beta_is_a_float():
    p, l, d = inputs(stable_seed("int"), SHAPES[0], np.float64)
    check(cpu.smooth_l1_loss_grad(p, l, d, beta=np.int64(2)), torch_loss_grad(t64(p), t64(l), t64(d), "mean", 2.0)
          .detach().numpy(), np.float64)


# ---------------------------------------------------------------------------
# the MindSpore face: functions, the aclnn order, the Cell; first and second order

class Face(nn.Cell):
    def __init__(self, fn, reduction, beta):
        super().__init__()
        self.fn, self.reduction, self.beta = fn, reduction, beta

    def construct(self, *xs):
        return self.fn(*xs, self.reduction, self.beta)


class Backward(nn.Cell):
    """smooth_l1_loss_backward(grad_output, input, target) with the op's inputs (predict, label, dout)."""

    def __init__(self, reduction, beta):
        super().__init__()
        self.reduction, self.beta = reduction, beta

    def construct(self, p, l, d):
        return ms_ops.smooth_l1_loss_backward(d, p, l, reduction=self.reduction, beta=self.beta)


def np_sum_to(t, shape):
    """Sum ``t`` over the axes broadcasting added or expanded to reach it from ``shape``."""
    t = t.sum(axis=tuple(range(t.ndim - len(shape))))
    return t.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1 and t.shape[i] != 1), keepdims=True)


def _cotangents(seed, shapes, out_shape, dtype):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.5, 1.5, out_shape).astype(dtype)
    return w, [rng.uniform(-1.0, 1.0, s).astype(dtype) for s in shapes]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("beta", BETAS)
def test_mindspore_face_first_and_second_order(mode, beta, dtype):
    shapes = SHAPES[1]
    p, l, d = inputs(stable_seed("ms", beta, str(dtype)), shapes, dtype)
    bshape = np.broadcast_shapes(*shapes)
    for red in REDUCTIONS:
        # the loss, through the functional API and the Cell
        out_shape = bshape if red == "none" else ()
        w, vs = _cotangents(stable_seed("w", red), shapes[:2], out_shape, dtype)
        y, first, second = torch_orders(lambda a, b: torch_loss(a, b, red, beta), (p, l), w, vs)
        for net in (Face(ms_ops.smooth_l1_loss, red, beta), LossCell(ms_ops.SmoothL1Loss(beta=beta, reduction=red))):
            check(N(net(T(p), T(l))), y, dtype, terms=1 if red == "none" else 64)
            for a, e, x in zip(grads(SumOut(net, T(w)), T(p), T(l)), first, (p, l)):
                assert a.dtype == MS_DT[np.dtype(dtype)]
                check(N(a), e, dtype, terms=64)
        got = grads(GradSum(SumOut(Face(ms_ops.smooth_l1_loss, red, beta), T(w)), 2, tuple(T(v) for v in vs)),
                    T(p), T(l))
        for a, e in zip(got, second):
            check(N(a), e, dtype, terms=64)

        # the grad op, in the CANN order and the aclnn order
        w, vs = _cotangents(stable_seed("w3", red), shapes, bshape, dtype)
        y, first, second = torch_orders(lambda a, b, c: torch_loss_grad(a, b, c, red, beta), (p, l, d), w, vs)
        # d/d dout sums SmoothL1LossGrad(p, l, w) over the broadcast axes of dout: the op's output,
        # rounded to dtype, then summed (as MseLossGrad's; docs/SPEC.md's gradient table)
        terms = np.abs(torch_loss_grad(t64(p), t64(l), t64(w), red, beta).detach().numpy())
        rounded = [0.0, 0.0, float(np.max(np_sum_to(terms, d.shape), initial=0.0))]
        for net in (Face(ms_ops.smooth_l1_loss_grad, red, beta), Backward(red, beta)):
            check(N(net(T(p), T(l), T(d))), y, dtype)
            for a, e, r in zip(grads(SumOut(net, T(w)), T(p), T(l), T(d)), first, rounded):
                check(N(a), e, dtype, terms=64, rounded=r)
        got = grads(GradSum(SumOut(Face(ms_ops.smooth_l1_loss_grad, red, beta), T(w)), 3,
                            tuple(T(v) for v in vs)), T(p), T(l), T(d))
        for a, e, x in zip(got, second, (p, l, d)):
            assert a.shape == x.shape and a.dtype == MS_DT[np.dtype(dtype)]
            check(N(a), e, dtype, terms=64)


def test_cell_is_a_drop_in_for_mindspore_nn(mode):
    """Same defaults (beta=1.0, reduction='none'), argument order and values as mindspore.nn.SmoothL1Loss."""
    p, l, _ = inputs(stable_seed("dropin"), SHAPES[0], np.float32)
    for args, kwargs in (((), {}), ((0.5,), {}), ((2.0, "sum"), {}), ((), {"reduction": "mean", "beta": 0.25})):
        ours, theirs = ms_ops.SmoothL1Loss(*args, **kwargs), nn.SmoothL1Loss(*args, **kwargs)
        assert ours.beta == theirs.beta and ours.reduction == theirs.reduction
        a, b = N(LossCell(ours)(T(p), T(l))), N(LossCell(theirs)(T(p), T(l)))
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=4e-6, atol=1e-7)


def test_mindspore_face_refuses_bad_beta_naming_it(mode):
    x = T(np.ones(3, np.float32))
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="SmoothL1Loss: beta must be a number >= 0"):
            ms_ops.SmoothL1Loss(beta=bad)
        with pytest.raises(ValueError, match="SmoothL1LossGrad: beta must be a number >= 0"):
            Face(ms_ops.smooth_l1_loss_grad, "mean", bad)(x, x, x)
        with pytest.raises(ValueError, match="SmoothL1LossGrad: beta must be a number >= 0"):
            Backward("mean", bad)(x, x, x)
    with pytest.raises(TypeError, match="beta must be a real number"):
        ms_ops.SmoothL1Loss(beta="big")


def test_dynamic_shapes_and_jit():
    before = ms.get_context("mode")
    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        net = Face(ms_ops.smooth_l1_loss_grad, "mean", 0.25)
        net.set_inputs(ms.Tensor(shape=[None, 3], dtype=ms.float32), ms.Tensor(shape=[None, 3], dtype=ms.float32),
                       ms.Tensor(shape=[None, 1], dtype=ms.float32))
        for rows in (2, 5, 1):
            p, l, d = inputs(stable_seed("dyn", rows), ((rows, 3), (rows, 3), (rows, 1)), np.float32)
            check(N(net(T(p), T(l), T(d))), torch_loss_grad(t64(p), t64(l), t64(d), "mean", 0.25).detach().numpy(),
                  np.float32)
    finally:
        ms.set_context(mode=before)

    @ms.jit
    def loss_and_grad(a, b):
        return ms_ops.smooth_l1_loss(a, b, "sum", 3.0), ms.grad(ms_ops.smooth_l1_loss, grad_position=0)(a, b, "sum", 3.0)

    p, l, _ = inputs(stable_seed("jit"), SHAPES[1], np.float32)
    loss, g = loss_and_grad(T(p), T(l))
    y, first, _ = torch_orders(lambda a, b: torch_loss(a, b, "sum", 3.0), (p, l), np.float32(1.0),
                               [np.zeros(p.shape), np.zeros(l.shape)])
    check(N(loss), y, np.float32, terms=64)
    check(N(g), first[0], np.float32, terms=64)


def test_a_beta_that_is_not_a_float32_is_exact_in_float64(mode):
    """MindSpore gives aot kernels float attributes as float32; ms_ops also passes the double (as
    float.hex), so beta = 0.1 is 0.1. Inputs sit where the two betas give different answers."""
    p = np.array([0.05, 0.09, 0.1000000001, 0.3, -0.0999999999])
    l, d = np.zeros(5), np.linspace(0.5, 1.5, 5)
    y = torch_loss_grad(t64(p), t64(l), t64(d), "sum", 0.1).detach().numpy()
    assert not np.allclose(y, torch_loss_grad(t64(p), t64(l), t64(d), "sum", float(np.float32(0.1))).detach().numpy(),
                           rtol=1e-12, atol=0)
    check(N(Face(ms_ops.smooth_l1_loss_grad, "sum", 0.1)(T(p), T(l), T(d))), y, np.float64)
    loss = torch_loss(t64(p), t64(l), "none", 0.1).detach().numpy()
    check(N(LossCell(ms_ops.SmoothL1Loss(0.1))(T(p), T(l))), loss, np.float64)

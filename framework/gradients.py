"""The gradient table of docs/SPEC.md, written once over an abstract tensor backend.

A binding (MindSpore bprops, a NumPy backend for tests) supplies a
:class:`GradBackend`; :data:`BPROPS` maps each op name to the function that
returns the gradients with respect to every input of that op.

Identity used throughout: the term ``g * d * s`` of MseLossGrad's gradient is
``MseLossGrad(g, 0, d)`` (``d * (g - 0) * s``): the same scale ``s`` over the
same broadcast shape, computed by the op itself, so no binding ever restates
the scale rule and dynamic shapes need no host-side element count.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Protocol, Tuple

from .definitions import L1_LOSS, L1_LOSS_GRAD, MSE_LOSS, MSE_LOSS_GRAD

__all__ = ["GradBackend", "BPROPS", "mse_loss_bprop", "l1_loss_bprop",
           "mse_loss_grad_bprop", "l1_loss_grad_bprop"]

T = Any  # a backend tensor


class GradBackend(Protocol):
    """What a binding provides to evaluate the gradient formulas."""

    def mse_loss_grad(self, predict: T, label: T, dout: T, reduction: str) -> T: ...
    def l1_loss_grad(self, grads: T, predict: T, label: T, reduction: str) -> T: ...
    def reduce_to(self, t: T, like: T) -> T:
        """Sum ``t`` over the axes that broadcasting added or expanded in ``like``,
        returning ``like``'s shape (and dtype)."""
    def neg_reduce_to(self, t: T, like: T) -> T:
        """``-reduce_to(t, like)`` (a backend may fuse the negation into the same pass)."""
    def zeros_like(self, t: T) -> T: ...
    def scalar_zero(self, like: T) -> T:
        """A rank-0 zero of ``like``'s dtype."""


def mse_loss_bprop(b: GradBackend, predict: T, label: T, g: T, reduction: str) -> Tuple[T, T]:
    """d MseLoss(p, l) / d(p, l), given the incoming gradient ``g``."""
    t = b.mse_loss_grad(predict, label, g, reduction)
    return b.reduce_to(t, predict), b.neg_reduce_to(t, label)


def l1_loss_bprop(b: GradBackend, predict: T, label: T, g: T, reduction: str) -> Tuple[T, T]:
    """d L1Loss(p, l) / d(p, l)."""
    t = b.l1_loss_grad(g, predict, label, reduction)
    return b.reduce_to(t, predict), b.neg_reduce_to(t, label)


def mse_loss_grad_bprop(b: GradBackend, predict: T, label: T, dout: T, g: T,
                        reduction: str) -> Tuple[T, T, T]:
    """d MseLossGrad(p, l, d) / d(p, l, d): ``g*d*s``, ``-g*d*s``, ``MseLossGrad(p, l, g)``."""
    gds = b.mse_loss_grad(g, b.scalar_zero(g), dout, reduction)  # = g * d * s
    return (b.reduce_to(gds, predict), b.neg_reduce_to(gds, label),
            b.reduce_to(b.mse_loss_grad(predict, label, g, reduction), dout))


def l1_loss_grad_bprop(b: GradBackend, grads: T, predict: T, label: T, g: T,
                       reduction: str) -> Tuple[T, T, T]:
    """d L1LossGrad(gr, p, l) / d(gr, p, l): sign is piecewise constant, so 0 for p and l."""
    return (b.reduce_to(b.l1_loss_grad(g, predict, label, reduction), grads),
            b.zeros_like(predict), b.zeros_like(label))


#: op name -> bprop(backend, *inputs, g, reduction) -> one gradient per input
BPROPS: Dict[str, Callable[..., Tuple[T, ...]]] = {
    MSE_LOSS.name: mse_loss_bprop,
    L1_LOSS.name: l1_loss_bprop,
    MSE_LOSS_GRAD.name: mse_loss_grad_bprop,
    L1_LOSS_GRAD.name: l1_loss_grad_bprop,
}

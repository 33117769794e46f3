"""MindSpore implementation of ``framework.gradients.GradBackend``.

A module (not an object) so that graph mode resolves ``backend.fn`` like any
module attribute when it compiles a bprop.
"""
from __future__ import annotations

from mindspore import ops

from . import primitives


def mse_loss_grad(predict, label, dout, reduction):
    return primitives.get_primitive("MseLossGrad", reduction)(predict, label, dout)


def l1_loss_grad(grads, predict, label, reduction):
    return primitives.get_primitive("L1LossGrad", reduction)(grads, predict, label)


def reduce_to(t, like):
    """Sum ``t`` over the axes broadcasting added or expanded in ``like``, cast to
    ``like``'s dtype: one native primitive (``ReduceTo``, see
    :func:`ms_ops.primitives.reduce_to_primitive`).

    A primitive rather than MindSpore's BinopGradCommon because graph mode cannot
    differentiate a bprop a second time through Python control flow (even
    branches folded at compile time), and MindSpore's CPU ReduceSum has no bfloat16.
    """
    return primitives.reduce_to_primitive()(t, like)


def neg_reduce_to(t, like):
    """``-reduce_to(t, like)`` in the same single native pass (``NegReduceTo``)."""
    return primitives.neg_reduce_to_primitive()(t, like)


_zeros_like = ops.ZerosLike()


def zeros_like(t):
    # the primitive: graph mode fails to differentiate ops.zeros_like's function graph
    # in a bprop a second time ("The pointer[input] is null")
    return _zeros_like(t)


def scalar_zero(like):
    return ops.zeros((), like.dtype)

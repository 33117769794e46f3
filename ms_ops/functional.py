"""Functional API of the MindSpore binding (PyNative, graph mode and ``mindspore.jit``).

Every function validates its inputs (docs/SPEC.md's error table) before any kernel
runs and accepts ``reduction`` as "none"/"mean"/"sum" or the aclnn integers 0/1/2.
Inputs broadcast together; mixed float dtypes promote.
"""
from __future__ import annotations

from typing import Union

from mindspore import Tensor, ops
from mindspore.ops import constexpr

from ..framework.definitions import MESSAGES
from .primitives import get_primitive, input_cast_dtype, validate

__all__ = ["mse_loss_grad", "l1_loss_grad", "mse_loss_backward", "l1_loss_backward", "mse_loss", "l1_loss"]

Reduction = Union[str, int]


@constexpr
def _not_a_tensor(op_name: str, arg: str, value) -> None:
    raise TypeError(MESSAGES["not_tensor"].format(op=op_name, arg=arg, type=type(value).__name__))


def _check_tensors(op_name: str, names, *xs) -> None:
    """TypeError naming the first argument that is not a mindspore.Tensor (a NumPy array,
    a Python number, ...), before anything reads its shape or dtype. ``isinstance`` is
    resolved at compile time in graph mode, so valid calls compile to nothing."""
    for name, x in zip(names, xs):
        if not isinstance(x, Tensor):
            _not_a_tensor(op_name, name, x)


def _call(op_name: str, attrs, names, *xs: Tensor) -> Tensor:
    """Run the primitive with the canonical attribute values ``attrs`` (from ``validate``) on
    ``xs`` (in the op's input order, named ``names`` by the caller)."""
    dt = input_cast_dtype(tuple(x.dtype for x in xs))
    if dt is not None:  # Ascend with mixed dtypes: one dtype for the CANN kernel
        xs = tuple(ops.cast(x, dt) for x in xs)
    return get_primitive(op_name, attrs, names)(*xs)


def mse_loss_grad(predict: Tensor, label: Tensor, dout: Tensor, reduction: Reduction = "mean") -> Tensor:
    """``MseLossGrad``: ``dout * (predict - label) * s``, s = 2/N for mean, 2 otherwise
    (N = element count of the broadcast shape). Differentiable twice."""
    _check_tensors("MseLossGrad", ("predict", "label", "dout"), predict, label, dout)
    attrs = validate("MseLossGrad", reduction, (predict.shape, label.shape, dout.shape),
                   (predict.dtype, label.dtype, dout.dtype))
    return _call("MseLossGrad", attrs, None, predict, label, dout)


def l1_loss_grad(grads: Tensor, predict: Tensor, label: Tensor, reduction: Reduction = "mean") -> Tensor:
    """``L1LossGrad`` (CANN input order, incoming gradient first):
    ``grads * sign(predict - label) * s``, s = 1/N for mean, 1 otherwise."""
    _check_tensors("L1LossGrad", ("grads", "predict", "label"), grads, predict, label)
    attrs = validate("L1LossGrad", reduction, (grads.shape, predict.shape, label.shape),
                   (grads.dtype, predict.dtype, label.dtype))
    return _call("L1LossGrad", attrs, None, grads, predict, label)


def mse_loss_backward(grad_output: Tensor, input: Tensor, target: Tensor,  # noqa: A002 - aclnn/PyTorch names
                      reduction: Reduction = "mean") -> Tensor:
    """aclnn/PyTorch argument order: ``MseLossGrad(predict=input, label=target, dout=grad_output)``."""
    _check_tensors("MseLossGrad", ("grad_output", "input", "target"), grad_output, input, target)
    names = ("input", "target", "grad_output")  # in the op's input order
    attrs = validate("MseLossGrad", reduction, (input.shape, target.shape, grad_output.shape),
                   (input.dtype, target.dtype, grad_output.dtype), names)
    return _call("MseLossGrad", attrs, names, input, target, grad_output)


def l1_loss_backward(grad_output: Tensor, input: Tensor, target: Tensor,  # noqa: A002
                     reduction: Reduction = "mean") -> Tensor:
    """aclnn/PyTorch argument order: ``L1LossGrad(grads=grad_output, predict=input, label=target)``."""
    names = ("grad_output", "input", "target")  # the op's input order too
    _check_tensors("L1LossGrad", names, grad_output, input, target)
    attrs = validate("L1LossGrad", reduction, (grad_output.shape, input.shape, target.shape),
                   (grad_output.dtype, input.dtype, target.dtype), names)
    return _call("L1LossGrad", attrs, names, grad_output, input, target)


def mse_loss(input: Tensor, target: Tensor, reduction: Reduction = "mean") -> Tensor:  # noqa: A002
    """Mean squared error: ``(input - target)^2`` over the broadcast shape, then
    none/mean/sum. Its backward runs ``MseLossGrad``."""
    return _loss("MseLoss", ("input", "target"), input, target, reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: Reduction = "mean") -> Tensor:  # noqa: A002
    """Mean absolute error: ``|input - target|`` over the broadcast shape, then
    none/mean/sum. Its backward runs ``L1LossGrad``."""
    return _loss("L1Loss", ("input", "target"), input, target, reduction)


def _loss(op_name: str, names, input, target, reduction: Reduction) -> Tensor:  # noqa: A002
    """A forward loss whose errors name the caller's arguments (``names``: the functional
    API's input/target, the Cells' logits/labels)."""
    _check_tensors(op_name, names, input, target)
    attrs = validate(op_name, reduction, (input.shape, target.shape), (input.dtype, target.dtype), names)
    return _call(op_name, attrs, names, input, target)

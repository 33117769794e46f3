"""The NumPy reference of docs/SPEC.md: every op computed in float64, then cast once
to the result dtype. This is the oracle the tests compare every backend with.

Inputs are array-likes of any supported dtype (bfloat16 via ``ml_dtypes``);
validation is the shared one of :mod:`framework.definitions`.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .arrays import dtype_name, np_dtype
from .definitions import L1_LOSS, L1_LOSS_GRAD, MSE_LOSS, MSE_LOSS_GRAD, OpDef, Plan, ReductionArg

__all__ = ["mse_loss_grad", "l1_loss_grad", "mse_loss", "l1_loss", "run", "plan_for"]


def plan_for(op: OpDef, arrays: Sequence[np.ndarray], reduction: ReductionArg,
             arg_names: Sequence[str] = None) -> Plan:
    """Validate NumPy inputs against ``op`` (shapes, dtypes, reduction)."""
    return op.plan([a.shape for a in arrays], [dtype_name(a.dtype) for a in arrays], reduction, arg_names)


def _as_arrays(*xs: Any) -> list:
    return [np.asarray(x) for x in xs]


def _f64(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float64)


def mse_loss_grad(predict: Any, label: Any, dout: Any, reduction: ReductionArg = "mean") -> np.ndarray:
    """``dout * (predict - label) * s`` (s = 2/N for mean, 2 otherwise), float64 math."""
    p, l, d = _as_arrays(predict, label, dout)
    plan = plan_for(MSE_LOSS_GRAD, (p, l, d), reduction)
    with np.errstate(all="ignore"):
        y = _f64(d) * (_f64(p) - _f64(l)) * plan.scale
    return np.broadcast_to(y, plan.shape).astype(np_dtype(plan.dtype))


def l1_loss_grad(grads: Any, predict: Any, label: Any, reduction: ReductionArg = "mean") -> np.ndarray:
    """``grads * sign(predict - label) * s`` (s = 1/N for mean, 1 otherwise), float64 math."""
    g, p, l = _as_arrays(grads, predict, label)
    plan = plan_for(L1_LOSS_GRAD, (g, p, l), reduction)
    with np.errstate(all="ignore"):
        y = _f64(g) * np.sign(_f64(p) - _f64(l)) * plan.scale
    return np.broadcast_to(y, plan.shape).astype(np_dtype(plan.dtype))


def _loss(op: OpDef, predict: Any, label: Any, reduction: ReductionArg, elem) -> np.ndarray:
    p, l = _as_arrays(predict, label)
    plan = plan_for(op, (p, l), reduction)
    with np.errstate(all="ignore"):
        e = np.broadcast_to(elem(_f64(p) - _f64(l)), plan.shape)
        if plan.reduction == "none":
            out = e
        elif plan.reduction == "sum":
            out = np.sum(e)
        else:
            out = np.sum(e) / plan.n if plan.n else np.float64(np.nan)
    return np.asarray(out).astype(np_dtype(plan.dtype))


def mse_loss(predict: Any, label: Any, reduction: ReductionArg = "mean") -> np.ndarray:
    """``(predict - label)^2`` over the broadcast shape, then none/mean/sum."""
    return _loss(MSE_LOSS, predict, label, reduction, np.square)


def l1_loss(predict: Any, label: Any, reduction: ReductionArg = "mean") -> np.ndarray:
    """``|predict - label|`` over the broadcast shape, then none/mean/sum."""
    return _loss(L1_LOSS, predict, label, reduction, np.abs)


_BY_NAME = {"MseLossGrad": mse_loss_grad, "L1LossGrad": l1_loss_grad, "MseLoss": mse_loss, "L1Loss": l1_loss}


def run(op_name: str, *inputs: Any, reduction: ReductionArg = "mean") -> np.ndarray:
    """Reference of the op called ``op_name`` (an ONNX/CANN op type)."""
    return _BY_NAME[op_name](*inputs, reduction=reduction)

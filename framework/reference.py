"""The NumPy reference of docs/SPEC.md: every op computed in float64, then cast once
to the result dtype. This is the oracle the tests compare every backend with.

Inputs are array-likes of any supported dtype (bfloat16 via ``ml_dtypes``);
validation is the shared one of :mod:`framework.rules`. The formulas are the
families' (``REFERENCE`` of each module of :mod:`framework.families`); this module
adds what every op shares: validation, float64 inputs, broadcasting, the scale of
a grad op, the reduction of a loss, and the one rounding. One function per declared
op, named after it (``foo_loss_grad(<inputs in the op's order>, reduction="mean")`` for an op
``FooLossGrad``).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .arrays import dtype_name, np_dtype
from .definitions import DEFAULT_REDUCTION, OPS, OpDef, Plan, ReductionArg
from .registry import REFERENCE, make_face

__all__ = ["run", "plan_for"]


def plan_for(op: OpDef, arrays: Sequence[np.ndarray], reduction: ReductionArg,
             arg_names: Sequence[str] = None, **attrs: Any) -> Plan:
    """Validate NumPy inputs against ``op`` (shapes, dtypes, reduction, attributes)."""
    return op.plan([a.shape for a in arrays], [dtype_name(a.dtype) for a in arrays], reduction, arg_names, **attrs)


def _reference(op: OpDef, inputs: Sequence[Any], attrs: Mapping[str, Any]) -> np.ndarray:
    arrays = [np.asarray(x) for x in inputs]
    attrs = dict(attrs)
    plan = plan_for(op, arrays, attrs.pop("reduction", DEFAULT_REDUCTION), **attrs)
    formula = REFERENCE[op.name]
    with np.errstate(all="ignore"):
        x = [a.astype(np.float64) for a in arrays]
        if not op.is_loss:
            y = formula(np, *x, plan.scale, **plan.extra)
        else:
            e = np.broadcast_to(formula(np, *x, **plan.extra), plan.shape)
            if plan.reduction == "none":
                out = e
            elif plan.reduction == "sum":
                out = np.sum(e)
            else:
                out = np.sum(e) / plan.n if plan.n else np.float64(np.nan)
            return np.asarray(out).astype(np_dtype(plan.dtype))
    return np.broadcast_to(y, plan.shape).astype(np_dtype(plan.dtype))


for _op in OPS.values():  # one public function per declared op
    _fn = make_face(_op, _reference, __name__, f"Float64 reference of ``{_op.name}``: {_op.doc}")
    globals()[_fn.__name__] = _fn
    __all__.append(_fn.__name__)
del _op, _fn


def run(op_name: str, *inputs: Any, reduction: ReductionArg = DEFAULT_REDUCTION, **attrs: Any) -> np.ndarray:
    """Reference of the op called ``op_name`` (an ONNX/CANN op type)."""
    return _reference(OPS[op_name], inputs, dict(attrs, reduction=reduction))

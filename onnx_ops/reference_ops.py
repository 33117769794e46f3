"""``onnx.reference`` implementations of the ``ai.lossgrad`` ops.

``REFERENCE_OPS`` is a list of ``OpRun`` classes for
``onnx.reference.ReferenceEvaluator(model, new_ops=REFERENCE_OPS)``; they compute
with :mod:`framework.reference` (float64 arithmetic, one rounding to the
result type) and validate with the shared definitions, so bad inputs raise the
shared ``ValueError``/``TypeError``. :func:`reference_evaluator` builds such
an evaluator. Evaluators take precedence of these classes over any function
bodies the model carries.
"""
from __future__ import annotations

from typing import Any, List, Type

import numpy as np
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun

from framework import reference
from framework.definitions import DEFAULT_REDUCTION, DOMAIN, OPS

from .schemas import get_schema

__all__ = ["REFERENCE_OPS", "reference_evaluator"]


class _LossgradOpRun(OpRun):
    """Base: runs ``framework.reference`` for the op named like the class."""

    op_domain = DOMAIN

    def _run(self, *inputs: np.ndarray, reduction: Any = None):  # noqa: D401 - OpRun protocol
        if isinstance(reduction, bytes):
            reduction = reduction.decode("utf-8", errors="backslashreplace")
        with np.errstate(over="ignore"):  # overflow to inf in the result dtype is the specified result
            result = reference.run(type(self).__name__, *inputs,
                                   reduction=DEFAULT_REDUCTION if reduction is None else reduction)
        return (np.asarray(result),)


def _make(name: str) -> Type[OpRun]:
    return type(name, (_LossgradOpRun,), {"op_schema": get_schema(name), "__doc__": OPS[name].doc,
                                          "__module__": __name__})


#: one ``OpRun`` class per op of ``framework.definitions.OPS``
REFERENCE_OPS: List[Type[OpRun]] = [_make(name) for name in OPS]


def reference_evaluator(model: Any, *, function_bodies: bool = False, **kwargs: Any) -> ReferenceEvaluator:
    """``onnx.reference.ReferenceEvaluator`` for an ``ai.lossgrad`` model.

    By default the nodes run :data:`REFERENCE_OPS`. With ``function_bodies``
    they run the model's function bodies instead (attached first if missing),
    inlined, because ``onnx.reference`` ignores function overloads.
    """
    if function_bodies:
        import onnx
        import onnx.inliner

        from .functions import add_functions

        if not isinstance(model, onnx.ModelProto):
            model = onnx.load(model)
        return ReferenceEvaluator(onnx.inliner.inline_local_functions(add_functions(model)), **kwargs)
    new_ops = list(REFERENCE_OPS) + list(kwargs.pop("new_ops", None) or [])
    return ReferenceEvaluator(model, new_ops=new_ops, **kwargs)

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
import onnx
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun

from ..framework import reference
from ..framework.arrays import dtype_name
from ..framework.definitions import DEFAULT_REDUCTION, DOMAIN, OPS

from .schemas import attribute_values, attribute_values_from_runtime, get_schema

__all__ = ["REFERENCE_OPS", "reference_evaluator"]


class _LossgradOpRun(OpRun):
    """Base: runs ``framework.reference`` for the op named like the class.

    The node's declared attributes are validated before ``OpRun`` reads them
    (``OpRun`` takes the last of duplicated attributes and decodes strings as
    UTF-8), the inputs before ``OpRun.run`` calls ``_run`` (it turns every
    ``TypeError`` of ``_run`` into its own "Issues with types" error), and the
    attribute values ``_run`` gets again (an attribute of a node inside a
    function may refer to the function's attribute: its value is only known
    then), so the shared messages reach the user.
    """

    op_domain = DOMAIN

    def __init__(self, onnx_node: onnx.NodeProto, run_params: dict, schema: Any = None):
        node = onnx.NodeProto()
        node.CopyFrom(onnx_node)
        names = [a.name for a in node.attribute]
        if len(set(names)) == len(names):  # duplicates are refused whatever they are
            # the values of references to a function's attributes are checked in _run
            kept = [a for a in node.attribute if not a.ref_attr_name]
            del node.attribute[:]
            node.attribute.extend(kept)
        attribute_values(node, OPS[type(self).__name__])  # the shared ValueErrors
        super().__init__(onnx_node, run_params, schema)

    def run(self, *args: Any, **kwargs: Any):  # noqa: D401 - OpRun protocol
        op = OPS[type(self).__name__]
        # arity, dtypes, ranks, broadcasting (the reduction is checked in _run,
        # where a linked attribute has its value)
        op.plan([np.shape(a) for a in args], [dtype_name(np.asarray(a).dtype) for a in args], DEFAULT_REDUCTION)
        return super().run(*args, **kwargs)

    def _run(self, *inputs: np.ndarray, **attrs: Any):  # noqa: D401 - OpRun protocol
        op = OPS[type(self).__name__]
        values = attribute_values_from_runtime(op, attrs)  # every declared attribute, checked
        with np.errstate(over="ignore"):  # overflow to inf in the result dtype is the specified result
            result = reference.run(op.name, *inputs, **values)
        return (np.asarray(result),)


def _make(name: str) -> Type[OpRun]:
    return type(name, (_LossgradOpRun,), {"op_schema": get_schema(name), "__doc__": OPS[name].doc,
                                          "__module__": __name__})


#: one ``OpRun`` class per op of ``framework.definitions.OPS``
REFERENCE_OPS: List[Type[OpRun]] = [_make(name) for name in OPS]


def reference_evaluator(model: Any, *, function_bodies: bool = False, **kwargs: Any) -> ReferenceEvaluator:
    """``onnx.reference.ReferenceEvaluator`` for an ``ai.lossgrad`` model.

    By default the nodes run :data:`REFERENCE_OPS`, which follow each node's
    declared attributes. With ``function_bodies`` they run function bodies instead,
    inlined, because ``onnx.reference`` ignores function overloads: the bodies
    and overloads are always re-derived from the nodes' attributes with
    :func:`onnx_ops.add_functions`, on a copy of the model, so a node whose
    ``overload`` disagrees with its ``reduction`` (edited after
    ``add_functions``) runs what its attribute says; the caller's model is not
    changed.

    Raises ``ValueError`` (the shared messages) for a node with a bad,
    mistyped, duplicated or undeclared attribute; at run time the reference ops raise
    the shared ``TypeError``/``ValueError`` for unsupported dtypes, ranks and
    shapes.
    """
    if function_bodies:
        import onnx.inliner

        from .functions import add_functions

        if not isinstance(model, onnx.ModelProto):
            model = onnx.load(model)
        return ReferenceEvaluator(onnx.inliner.inline_local_functions(add_functions(model)), **kwargs)
    new_ops = list(REFERENCE_OPS) + list(kwargs.pop("new_ops", None) or [])
    return ReferenceEvaluator(model, new_ops=new_ops, **kwargs)

"""``nn.Cell`` losses: drop-in replacements for the ``mindspore.nn`` losses.

One Cell per declared loss whose family names it (``FACES`` of
:mod:`framework.families`: the class name and its parameters in ``mindspore.nn``'s
order, with ``mindspore.nn``'s defaults), computing ``construct(logits, labels)``
with the op's kernels forward and its family's grad op backward.
"""
from __future__ import annotations

import inspect
from typing import Any, List, Tuple

from mindspore import Tensor, nn

from ..framework.definitions import OPS, OpDef
from ..framework.registry import FACES
from . import functional as F

__all__: List[str] = []


class LossCell(nn.Cell):
    """The common part of the drop-in loss Cells: the op and its canonical attribute values,
    checked at construction (not at the first call)."""

    op_name: str = ""

    def __init__(self, **attrs: Any) -> None:
        super().__init__()
        op = OPS[self.op_name]
        values = op.attribute_values(**attrs)
        self.reduction = values["reduction"]
        self.extra = F.attribute_pairs(self.op_name, values)
        for name, value in values.items():  # readable like mindspore.nn's (cell.reduction, cell.beta)
            setattr(self, name, value)

    def construct(self, logits: Tensor, labels: Tensor) -> Tensor:
        return F._loss(self.op_name, ("logits", "labels"), logits, labels, self.reduction, self.extra)


def _cell(op: OpDef, class_name: str, params: Tuple[Tuple[str, Any], ...]) -> type:
    declared = {a.name for a in op.attributes}
    if {p for p, _ in params} != declared:
        raise ImportError(f"{op.name}: the Cell {class_name} must take exactly the declared attributes "
                          f"{', '.join(sorted(declared))}; FACES gives {', '.join(p for p, _ in params)}")
    order = [p for p, _ in params]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        LossCell.__init__(self, **{p: bound.arguments[p] for p in order})

    P = inspect.Parameter
    signature = inspect.Signature([P("self", P.POSITIONAL_OR_KEYWORD)]
                                  + [P(p, P.POSITIONAL_OR_KEYWORD, default=d) for p, d in params])
    __init__.__signature__ = signature  # type: ignore[attr-defined]
    args = ", ".join(f"{p}={d!r}" for p, d in params)
    doc = (f"Drop-in for ``mindspore.nn.{class_name}({args})``: ``{op.name}`` forward, its family's grad op "
           f"backward (differentiable twice). {op.doc} "
           + "; ".join(f"``{a.name}``: {a.doc}" for a in op.attributes) + ".")
    return type(class_name, (LossCell,), {"op_name": op.name, "__init__": __init__, "__doc__": doc,
                                          "__module__": __name__})


for _op in OPS.values():
    _spec = FACES[_op.name].get("cell")
    if _spec is not None:
        globals()[_spec[0]] = _cell(_op, *_spec)
        __all__.append(_spec[0])
del _op, _spec

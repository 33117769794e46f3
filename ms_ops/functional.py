"""Functional API of the MindSpore binding (PyNative, graph mode and ``mindspore.jit``).

One function per declared op (:data:`framework.definitions.OPS`), named after it
(``foo_loss_grad`` for ``FooLossGrad``): a grad op takes its inputs in the CANN
order and a loss takes ``(input, target)``, then the op's declared attributes
(``reduction`` first) with their defaults. A grad op whose family declares aclnn
names (``FACES`` of :mod:`framework.families`) also gets ``foo_loss_backward(grad_output,
input, target, <attributes>)``, the aclnn/PyTorch argument order.

Every function validates its inputs (docs/SPEC.md's error table) before any kernel
runs and accepts ``reduction`` as "none"/"mean"/"sum" or the aclnn integers 0/1/2.
Inputs broadcast together; mixed float dtypes promote.

The functions are written out as Python source from the declarations when this
module is imported (and registered with :mod:`linecache`), because MindSpore's
graph mode compiles a function from its source text and callers name the
arguments (``beta=0.5``): a closure over ``*args`` could give neither.
"""
from __future__ import annotations

import linecache
from typing import Any, Dict, List, Sequence, Tuple, Union

from mindspore import Tensor
from mindspore.ops import constexpr

from ..framework.definitions import MESSAGES, OPS, OpDef
from ..framework.registry import FACES, function_name
from .primitives import get_primitive, validate

__all__: List[str] = []

Reduction = Union[str, int]
#: the aclnn / PyTorch order of a backward function's tensors
ACLNN_ORDER = ("grad_output", "input", "target")
#: the tensor names of a loss function
LOSS_NAMES = ("input", "target")


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
    ``xs`` (in the op's input order, named ``names`` by the caller). The CPU kernels promote
    mixed dtypes themselves; on Ascend the primitive casts them first (``primitives.promoting``)."""
    return get_primitive(op_name, attrs, names)(*xs)


def _loss(op_name: str, names, input, target, reduction: Reduction, extra=()) -> Tensor:  # noqa: A002
    """A forward loss whose errors name the caller's arguments (``names``: the functional
    API's input/target, the Cells' logits/labels); ``extra``: the declared attributes other
    than ``reduction``, as (name, value) pairs."""
    _check_tensors(op_name, names, input, target)
    attrs = validate(op_name, reduction, (input.shape, target.shape), (input.dtype, target.dtype), names, extra)
    return _call(op_name, attrs, names, input, target)


# -- the generated functions --------------------------------------------------------

def _attribute_doc(op: OpDef) -> str:
    return "; ".join(f"``{a.name}``: {a.doc} (default {a.default!r})" for a in op.attributes)


def _source(name: str, op: OpDef, params: Sequence[str], names: Sequence[str], doc: str) -> str:
    """A face of ``op``: tensors ``params`` (the caller's order), ``names`` their names in the op's order."""
    attrs = [a.name for a in op.attributes]
    signature = ", ".join([*params, *(f"{a.name}={a.default!r}" for a in op.attributes)])
    extra = "".join(f"({a!r}, {a}), " for a in attrs[1:])
    shapes = "".join(f"{n}.shape, " for n in names)
    dtypes = "".join(f"{n}.dtype, " for n in names)
    arg_names = None if tuple(names) == op.inputs else tuple(names)
    return (f"def {name}({signature}):  # noqa: A002\n"
            f"    {doc!r}\n"
            f"    _check_tensors({op.name!r}, {tuple(params)!r}, {', '.join(params)})\n"
            f"    attrs = validate({op.name!r}, reduction, ({shapes}), ({dtypes}), {arg_names!r}, ({extra}))\n"
            f"    return _call({op.name!r}, attrs, {arg_names!r}, {', '.join(names)})\n\n")


def _faces() -> Dict[str, str]:
    """Name -> source of every function of this module."""
    out: Dict[str, str] = {}
    for op in OPS.values():
        name = function_name(op.name)
        if op.is_loss:
            doc = (f"``{op.name}`` of ``(input, target)``: {op.doc} {_attribute_doc(op)}. Its backward runs "
                   f"the family's grad op; differentiable twice.")
            out[name] = (f"def {name}(input, target, "
                         + ", ".join(f"{a.name}={a.default!r}" for a in op.attributes) + "):  # noqa: A002\n"
                         f"    {doc!r}\n"
                         f"    return _loss({op.name!r}, {LOSS_NAMES!r}, input, target, {op.attributes[0].name}, ("
                         + "".join(f"({a.name!r}, {a.name}), " for a in op.attributes[1:]) + "))\n\n")
            continue
        doc = f"``{op.name}`` (CANN input order): {op.doc} {_attribute_doc(op)}. Differentiable twice."
        out[name] = _source(name, op, op.inputs, op.inputs, doc)
        aclnn = FACES[op.name].get("backward")
        if aclnn is not None:
            if sorted(aclnn) != sorted(ACLNN_ORDER):
                raise ImportError(f"{op.name}: FACES 'backward' must name its inputs {', '.join(ACLNN_ORDER)}; "
                                  f"got {aclnn}")
            backward = name[:-len("_grad")] + "_backward" if name.endswith("_grad") else name + "_backward"
            mapping = ", ".join(f"{n}={a}" for n, a in zip(op.inputs, aclnn))
            doc = f"aclnn/PyTorch argument order: ``{op.name}({mapping})``. {_attribute_doc(op)}."
            out[backward] = _source(backward, op, ACLNN_ORDER, aclnn, doc)
    return out


def _define(sources: Dict[str, str]) -> None:
    text = "".join(sources.values())
    filename = f"<lossgrad_ops.ms_ops.functional: generated from {', '.join(OPS)}>"
    # graph mode reads a function's source: keep it where inspect finds it (mtime None: never evicted)
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    exec(compile(text, filename, "exec"), globals())  # noqa: S102 - source built above from the declarations
    for fn in sources:
        globals()[fn].__module__ = __name__
        __all__.append(fn)


_define(_faces())


def attribute_pairs(op_name: str, values: Dict[str, Any]) -> Tuple[Tuple[str, Any], ...]:
    """The declared attributes of ``op_name`` other than ``reduction`` as (name, value) pairs, in order."""
    return tuple((a.name, values[a.name]) for a in OPS[op_name].attributes[1:])

"""The ``mindspore.ops.Custom`` primitives of the declared ops, with their bprops.

One primitive per (op, attribute values, device target), created on first use
and cached. On CPU it runs the native kernel of ``framework/`` through its aot entry
(``<library>:<OpType>``) with the declared attributes (``reduction``) as primitive
attributes; shapes are inferred by the library's ``<OpType>InferShape`` (so
graph mode handles dynamic shapes) and the dtype by promotion. On Ascend it
names the CANN operator of the same op type. The bprop of every primitive is the
formula of ``framework.gradients`` evaluated with this module as the
``GradBackend``: the formulas call the ops back through :func:`call`, which
makes (or finds) their primitives here, so the primitives and the backend are
one module (they used to be two modules importing each other). Nothing here
names an op: every op comes from ``framework.definitions.OPS``.

Both :func:`validate` and :func:`get_primitive` are ``constexpr``: in graph mode
they run in Python at compile time, so invalid calls raise the ``ValueError`` /
``TypeError`` of docs/SPEC.md before any kernel runs, in PyNative and graph mode alike.
"""
from __future__ import annotations

import functools
import sys
from typing import Any, Optional, Sequence, Tuple

import mindspore as ms
from mindspore import nn, ops
from mindspore.ops import constexpr

from ..framework import gradients
from ..framework.arrays import attribute_cache_key
from ..framework.definitions import OPS, OpDef, promote_dtypes
from ._device import device_target, find_ascend_package
from ._registry import ascend_reg_info, cpu_reg_info, dtype_name, ms_dtype, reduce_to_reg_info

__all__ = ["validate", "get_primitive", "make_primitive", "native_library", "call", "reduce_to", "neg_reduce_to",
           "zeros_like", "scalar_zero", "promoting", "scalar_one", "pointwise"]


@functools.lru_cache(maxsize=None)
def native_library() -> str:
    """Path of the native library holding the aot entries (built at install time)."""
    from ..framework.cpu import library_path
    return library_path()


def _shape(shape) -> Optional[Tuple[int, ...]]:
    """A graph-time shape with unknown dims as -1, or None for unknown rank."""
    if shape is None:
        return None
    dims = tuple(-1 if d is None else int(d) for d in shape)
    if len(dims) == 1 and dims[0] == -2:  # MindSpore's marker of an unknown rank
        return None
    return dims


#: validated calls: key (everything validate reads) -> canonical attribute values. Only successes are
#: kept, so an invalid call raises on every call; dict reads and writes are atomic and values immutable
#: tuples, so threads share it. Bounded: it starts over past VALIDATED_CACHE_SIZE entries.
_VALIDATED: dict = {}
VALIDATED_CACHE_SIZE = 4096


def _validated(op_name: str, reduction: Any, shapes: Sequence, dtypes: Sequence,
               arg_names: Optional[Sequence[str]], extra: Tuple[Tuple[str, Any], ...]):
    try:
        key = (op_name, attribute_cache_key(reduction), tuple(map(tuple, shapes)) if shapes is not None else None,
               tuple(dtypes), tuple(arg_names) if arg_names is not None else None,
               tuple((name, attribute_cache_key(v)) for name, v in extra))
        attrs = _VALIDATED.get(key)
    except TypeError:  # an unhashable value (a list as an attribute, an unknown rank's marker): no cache
        key = attrs = None
    if attrs is None:
        attrs = _validate(op_name, reduction, shapes, dtypes, arg_names, extra)
        if key is not None:
            if len(_VALIDATED) >= VALIDATED_CACHE_SIZE:
                _VALIDATED.clear()
            _VALIDATED[key] = attrs
    return attrs


def _validate(op_name: str, reduction: Any, shapes: Sequence, dtypes: Sequence,
              arg_names: Optional[Sequence[str]] = None, extra: Tuple[Tuple[str, Any], ...] = ()):
    op = OPS[op_name]
    names = [dtype_name(dt) for dt in dtypes]
    dims = [_shape(s) for s in shapes]
    if any(d is None for d in dims):  # unknown rank: check what can be checked
        plan = op.plan([()] * len(dims), names, reduction, arg_names, **dict(extra))
    else:
        plan = op.plan(dims, names, reduction, arg_names, **dict(extra))
    return plan.attrs


@constexpr
def validate(op_name: str, reduction: Any, shapes: Sequence, dtypes: Sequence,
             arg_names: Optional[Sequence[str]] = None, extra: Tuple[Tuple[str, Any], ...] = ()):
    """Check one call against docs/SPEC.md and return the canonical attribute values
    (``(("reduction", "mean"), ...)``, :attr:`framework.rules.Plan.attrs`, the key of
    :func:`get_primitive`). ``extra``: the declared attributes other than ``reduction``,
    as (name, value) pairs.

    Runs in Python (at compile time in graph mode; in PyNative a ``constexpr`` is a plain
    call). Unknown dimensions broadcast with anything; unknown ranks skip the shape checks
    (the kernel checks again). A call that validated once is not validated again: the result
    is cached per (op, reduction, shapes, dtypes, argument names, attributes), each value
    with its type; an invalid call is never cached and raises every time.
    """
    return _validated(op_name, reduction, shapes, dtypes, arg_names, extra)


def _out_dtype(op: OpDef):
    def infer(*types):
        names = [dtype_name(t) for t in types]
        op.plan([()] * len(names), names, "mean")  # raises TypeError for unsupported dtypes
        return ms.TensorType(ms_dtype(promote_dtypes(names)))
    return infer


def _make_bprop(op: OpDef, attrs: Tuple[Tuple[str, Any], ...]):
    """The bprop of ``op``'s primitive: its formula of ``framework.gradients`` over this module.

    MindSpore's graph mode parses a bprop's source and takes no ``*args``, so there is
    one closure per input count.
    """
    formula = gradients.BPROPS[op.name]
    backend = _BACKEND

    def bprop2(a, b, out, dout):
        return formula(backend, a, b, dout, attrs)

    def bprop3(a, b, c, out, dout):
        return formula(backend, a, b, c, dout, attrs)

    by_arity = {2: bprop2, 3: bprop3}
    if len(op.inputs) not in by_arity:
        raise NotImplementedError(f"{op.name}: ms_ops has bprops for ops of {' or '.join(map(str, by_arity))} "
                                  f"inputs; it declares {len(op.inputs)}")
    return by_arity[len(op.inputs)]


#: a CPU primitive's float attribute ``x`` is also the string attribute ``x_hex`` (``float.hex``),
#: which the aot kernel reads first (framework/csrc/ms_aot.cc)
EXACT_FLOAT_SUFFIX = "_hex"


def make_primitive(op_name: str, attrs: Tuple[Tuple[str, Any], ...], target: str,
                   arg_names: Optional[Tuple[str, ...]] = None) -> ops.Custom:
    """A new Custom primitive for ``op_name`` with fixed canonical attribute values ``attrs``
    (as :func:`validate` returns them), each also a primitive attribute.

    ``arg_names``: the caller's names of the inputs (in the op's order) when they are not
    the op's own; on CPU the shape errors of the library's InferShape name them.
    """
    op = OPS[op_name]
    values = dict(attrs)
    if target == "CPU":
        prim = ops.Custom(f"{native_library()}:{op.name}", out_shape=None, out_dtype=_out_dtype(op),
                          func_type="aot", bprop=_make_bprop(op, attrs),
                          reg_info=cpu_reg_info(op, **values))
    else:  # Ascend: the CANN operator of the same op type, from the installed op package
        find_ascend_package()  # a clear error now rather than an opaque one at kernel selection
        prim = ops.Custom(op.name, out_shape=lambda *shapes: _output_shape(op, attrs, shapes),
                          out_dtype=_out_dtype(op), func_type="aot", bprop=_make_bprop(op, attrs),
                          reg_info=ascend_reg_info(op, **values))
    for name, value in attrs:
        prim.add_prim_attr(name, value)
    if target != "CPU":
        return promoting(prim, len(op.inputs))
    if arg_names is not None and target == "CPU":
        prim.add_prim_attr("arg_names", ",".join(arg_names))
    if target == "CPU":  # MindSpore hands a float attribute to aot kernels as float32: the exact double too
        for a in op.attributes:
            if a.type == "float":
                prim.add_prim_attr(a.name + EXACT_FLOAT_SUFFIX, float(values[a.name]).hex())
    return prim


class _Promoting2(nn.Cell):
    """A kernel that takes one dtype for all its inputs (the CANN ones), given inputs of any
    supported dtypes: they are cast to the promoted dtype first, as docs/SPEC.md promotes. Also
    in the bprops, whose terms mix a float32 cotangent with half-type inputs. One class per
    input count: graph mode compiles neither ``*args`` nor a generator here."""

    def __init__(self, prim) -> None:
        super().__init__()
        self.prim = prim

    def construct(self, a, b):
        dt = _promoted_dtype((a.dtype, b.dtype))
        return self.prim(ops.cast(a, dt), ops.cast(b, dt))


class _Promoting3(_Promoting2):
    __doc__ = _Promoting2.__doc__

    def construct(self, a, b, c):
        dt = _promoted_dtype((a.dtype, b.dtype, c.dtype))
        return self.prim(ops.cast(a, dt), ops.cast(b, dt), ops.cast(c, dt))


def promoting(prim, arity: int) -> nn.Cell:
    """``prim`` (a primitive of ``arity`` inputs) behind the cast of its inputs to their promoted dtype."""
    by_arity = {2: _Promoting2, 3: _Promoting3}
    if arity not in by_arity:
        raise NotImplementedError(f"ms_ops promotes the inputs of ops of 2 or 3 inputs; this one has {arity}")
    return by_arity[arity](prim)


@constexpr
def _promoted_dtype(dtypes):
    return ms_dtype(promote_dtypes([dtype_name(dt) for dt in dtypes]))


def _output_shape(op: OpDef, attrs: Tuple[Tuple[str, Any], ...], shapes):
    values = dict(attrs)
    reduction = values.pop("reduction")
    return list(op.plan(shapes, ["float32"] * len(shapes), reduction, **values).out_shape)


@functools.lru_cache(maxsize=None)
def _cached(op_name: str, attrs: Tuple[Tuple[str, Any], ...], target: str,
            arg_names: Optional[Tuple[str, ...]]) -> ops.Custom:
    return make_primitive(op_name, attrs, target, arg_names)


_zeros_like = ops.ZerosLike()


@constexpr
def _cotangent_dtype(dtype):
    """dtype in which the bprops of ReduceTo/NegReduceTo return d/dt: float32 for the
    half types. The cotangent of ``t`` (one gradient term used by both ReduceTo and
    NegReduceTo) is a sum of their two results, which graph mode forms with AddN, a
    kernel MindSpore's CPU backend lacks for bfloat16; float32 also spares that sum a
    rounding (the op consuming the cotangent rounds once, on store, as docs/SPEC.md asks)."""
    return ms.float32 if dtype in (ms.float16, ms.bfloat16) else dtype


# d/dt of ReduceTo(t, like): dout broadcast back to t's shape (an Add broadcasts
# without control flow); NegReduceTo negates it with Neg, not Sub (no bfloat16 Sub on
# MindSpore's CPU backend). ZerosLike is the primitive, not ops.zeros_like: graph mode
# cannot differentiate the latter's function graph inside a bprop.
def _reduce_to_bprop(t, like, out, dout):
    dt = _cotangent_dtype(t.dtype)
    return ops.cast(_zeros_like(t), dt) + ops.cast(dout, dt), _zeros_like(like)


def _neg_reduce_to_bprop(t, like, out, dout):
    dt = _cotangent_dtype(t.dtype)
    return ops.cast(_zeros_like(t), dt) + ops.neg(ops.cast(dout, dt)), _zeros_like(like)


@functools.lru_cache(maxsize=None)
def _reduce_to_cached(negate: bool, target: str):
    if target != "CPU":  # on Ascend the sum over broadcast axes is MindSpore's own
        from mindspore.ops._grad_experimental.grad_math_ops import binop_grad_common

        def reduce_to_ascend(t, like):
            r, _ = binop_grad_common(like, t, t, t)
            return ops.cast(r, like.dtype)

        def neg_reduce_to_ascend(t, like):  # separate functions: no branch in a bprop
            r, _ = binop_grad_common(like, t, t, t)
            return ops.cast(ops.neg(r), like.dtype)
        return neg_reduce_to_ascend if negate else reduce_to_ascend
    entry = "NegReduceTo" if negate else "ReduceTo"
    return ops.Custom(f"{native_library()}:{entry}", out_shape=None,
                      out_dtype=lambda t, like: ms.TensorType(ms_dtype(dtype_name(like))),
                      func_type="aot", bprop=_neg_reduce_to_bprop if negate else _reduce_to_bprop,
                      reg_info=reduce_to_reg_info(entry))


@constexpr
def reduce_to_primitive():
    """The ``ReduceTo(t, like)`` primitive: sum ``t`` to ``like``'s shape and dtype."""
    return _reduce_to_cached(False, device_target())


@constexpr
def neg_reduce_to_primitive():
    """The ``NegReduceTo(t, like)`` primitive: ``-ReduceTo(t, like)`` in one native pass."""
    return _reduce_to_cached(True, device_target())


@constexpr
def get_primitive(op_name: str, attrs: Tuple[Tuple[str, Any], ...], arg_names: Optional[Sequence[str]] = None):
    """The cached primitive of (op, canonical attribute values) for the current device target;
    ``attrs`` as :func:`validate` returns them, ``arg_names`` as in :func:`make_primitive`
    (the op's own names share one primitive)."""
    names = tuple(arg_names) if arg_names is not None else None
    if names == OPS[op_name].inputs:
        names = None
    return _cached(op_name, tuple(attrs), device_target(), names)


# -- the GradBackend of framework.gradients --------------------------------------------
# Module functions (not methods of an object) so that graph mode resolves ``backend.fn``
# like any module attribute when it compiles a bprop.

def call(op, attrs, *inputs):
    """The primitive of the declared op ``op`` with the canonical attribute values ``attrs``,
    applied to ``inputs``."""
    return get_primitive(op, attrs)(*inputs)


def reduce_to(t, like):
    """Sum ``t`` over the axes broadcasting added or expanded in ``like``, cast to
    ``like``'s dtype: one native primitive (``ReduceTo``, see :func:`reduce_to_primitive`).

    A primitive rather than MindSpore's BinopGradCommon because graph mode cannot
    differentiate a bprop a second time through Python control flow (even
    branches folded at compile time), and MindSpore's CPU ReduceSum has no bfloat16.
    """
    return reduce_to_primitive()(t, like)


def neg_reduce_to(t, like):
    """``-reduce_to(t, like)`` in the same single native pass (``NegReduceTo``)."""
    return neg_reduce_to_primitive()(t, like)


def zeros_like(t):
    # the primitive: graph mode fails to differentiate ops.zeros_like's function graph
    # in a bprop a second time ("The pointer[input] is null")
    return _zeros_like(t)


def scalar_zero(like):
    return ops.zeros((), like.dtype)


def scalar_one(like):
    return ops.ones((), like.dtype)


def pointwise(formula, inputs, params=()):
    """``formula(mindspore.ops, *inputs, *params)`` in the compute type (float32 for the half
    types, so a family's elementwise term rounds once, where an op consumes it)."""
    return formula(ops, *map(_compute, inputs), *params)  # map: graph mode cannot compile a generator here


def _compute(x):
    """``x`` in its compute type: float32 for the half types."""
    return ops.cast(x, _cotangent_dtype(x.dtype))


#: this module, as the GradBackend the bprops pass to the formulas
_BACKEND = sys.modules[__name__]

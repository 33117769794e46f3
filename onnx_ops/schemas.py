"""ONNX schemas of the ``ai.lossgrad`` ops, derived from :mod:`framework.definitions`.

One schema per op of ``framework.definitions.OPS``: the op's input names in its
order, one output, a single type parameter ``T`` (float16, bfloat16, float,
double) shared by all inputs and the output, every declared attribute with its
ONNX type (string: STRING, int: INT, float: FLOAT, bool: INT 0/1) and default,
so ``onnx.checker`` rejects unknown and mistyped attributes, and a type-and-shape
inference function that validates the node (every declared attribute with its
check, then :meth:`framework.definitions.OpDef.plan`, so the shared error
messages apply) and infers the broadcast shape, keeping symbolic dimensions, or
rank 0 for a reduced loss.

:func:`attribute_values` (of a node) and :func:`attribute_values_from_runtime`
(of values a runtime hands over) are the one reader of declared attributes that
every Python ONNX face uses.

ONNX has no implicit type promotion, so a node takes one element type; inputs
of mixed types are cast to the promoted type by whoever builds the graph
(:func:`onnx_ops.export` does it for MindSpore networks).

Registration is per Python process (``onnx.defs.register_schema``) and
idempotent; importing :mod:`onnx_ops` registers the schemas.
"""
from __future__ import annotations

import threading
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import onnx
import onnx.defs
from onnx import AttributeProto, TensorProto, TypeProto, helper

from ..framework.arrays import np_dtype
from ..framework.definitions import (DEFAULT_REDUCTION, DOMAIN, DTYPES, MESSAGES, OPS, OPSET_VERSION, REDUCTIONS,
                                     REDUCTION, Attribute, OpDef, check_dtype, check_rank)

__all__ = ["ONNX_DTYPES", "DTYPE_NAMES", "TYPE_PARAM", "register_schemas", "make_schema", "get_schema",
           "elem_type_name", "reduction_of", "reduction_from_value", "attribute_type_message",
           "escape_attribute_bytes", "check_unique_attributes", "attribute_proto", "attribute_values",
           "attribute_values_from_runtime", "attribute_value", "ONNX_ATTRIBUTE_TYPES", "float32_nearest"]

#: canonical dtype name -> ONNX ``TensorProto`` element type
ONNX_DTYPES: Dict[str, int] = {name: int(helper.np_dtype_to_tensor_dtype(np_dtype(name))) for name in DTYPES}
#: ONNX element type -> canonical dtype name
DTYPE_NAMES: Dict[int, str] = {v: k for k, v in ONNX_DTYPES.items()}
#: the type parameter shared by all inputs and the output
TYPE_PARAM = "T"
_TYPE_STRINGS = [f"tensor({TensorProto.DataType.Name(ONNX_DTYPES[n]).lower()})" for n in DTYPES]

_lock = threading.Lock()


def elem_type_name(elem_type: int) -> str:
    """Canonical dtype name of an ONNX element type (ONNX's own lower-case name if unsupported)."""
    if elem_type in DTYPE_NAMES:
        return DTYPE_NAMES[elem_type]
    try:
        return TensorProto.DataType.Name(elem_type).lower()
    except ValueError:
        return f"element type {elem_type}"


def attribute_type_message(op: str, attr: AttributeProto) -> str:
    """Message for a ``reduction`` attribute that is not a STRING (the shared template,
    which the native library formats too)."""
    kind = AttributeProto.AttributeType.Name(attr.type)
    article = "an" if kind[0] in "AEIOU" else "a"
    return MESSAGES["bad_reduction_type"].format(op=op, kind=f"{article} {kind}")


def escape_attribute_bytes(raw: bytes) -> str:
    """A STRING attribute's bytes, quoted, for a message: printable ASCII as is, the rest escaped.

    ``b"sum\\x00junk"`` is shown as ``'sum\\x00junk'`` and ``b"\\xff"`` as ``'\\xff'``
    (every byte outside 0x20-0x7e as ``\\xNN``, except ``\\t``, ``\\n``, ``\\r``; a quote
    or backslash gets a backslash), so a message never carries a NUL, a control
    character or invalid UTF-8. The native library escapes the same way.
    """
    out = []
    for b in raw:
        c = chr(b)
        if c in "\\'":
            out.append("\\" + c)
        elif c in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[c])
        elif 0x20 <= b < 0x7F:
            out.append(c)
        else:
            out.append(f"\\x{b:02x}")
    return "'" + "".join(out) + "'"


_NAMED_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def check_unique_attributes(node: onnx.NodeProto) -> None:
    """Raise ``ValueError`` (the shared message, naming the op) if ``node`` carries an attribute twice.

    Runtimes disagree on which copy counts (onnx.reference takes the last,
    others the first), so such a node is refused on every path.
    """
    counts: Dict[str, int] = {}
    for attr in node.attribute:
        counts[attr.name] = counts.get(attr.name, 0) + 1
    for name, count in counts.items():
        if count > 1:
            raise ValueError(MESSAGES["duplicate_attribute"].format(op=node.op_type, attr=name, count=count))


def reduction_of(node: onnx.NodeProto) -> str:
    """The canonical reduction of an ``ai.lossgrad`` node (the default when absent).

    Raises ``ValueError`` (the shared messages) for a value that is not a
    reduction name, an attribute that is not a string, or an attribute given
    more than once.
    """
    check_unique_attributes(node)
    for attr in node.attribute:
        if attr.name == "reduction":
            return _reduction_from_attribute(node.op_type, attr)
    return DEFAULT_REDUCTION


def reduction_from_value(op: str, value: object) -> str:
    """The canonical reduction of an attribute value as a runtime hands it over.

    ``str`` or ``bytes`` (a STRING attribute) must be a reduction name; any
    other type is an attribute of the wrong type (the integers 0, 1, 2 are for
    the Python APIs, not for the ONNX attribute).
    """
    if isinstance(value, str):
        value = value.encode("utf-8", errors="surrogateescape")
    if isinstance(value, bytes):
        return _reduction_from_bytes(op, value)
    try:
        attr = helper.make_attribute("reduction", value)
    except (TypeError, ValueError):  # no ONNX attribute type for it (an empty list...)
        raise ValueError(MESSAGES["bad_reduction_type"].format(op=op, kind="a non-STRING")) from None
    raise ValueError(attribute_type_message(op, attr))


def _reduction_from_bytes(op: str, raw: bytes) -> str:
    try:
        value = raw.decode("ascii")
    except UnicodeDecodeError:
        value = None
    if value in REDUCTIONS:
        return value
    # Only the names are valid in ONNX (a string attribute); anything else
    # raises the shared ValueError naming the (escaped) value and the allowed ones.
    raise ValueError(MESSAGES["bad_reduction"].format(op=op, value=escape_attribute_bytes(raw)))


def _reduction_from_attribute(op: str, attr: Optional[AttributeProto]) -> str:
    if attr is None:
        return DEFAULT_REDUCTION
    if attr.type != AttributeProto.STRING:
        raise ValueError(attribute_type_message(op, attr))
    return _reduction_from_bytes(op, attr.s)


# -- every declared attribute ----------------------------------------------------

#: declared attribute type -> the ONNX attribute type carrying it (ONNX has no bool: an INT 0/1)
ONNX_ATTRIBUTE_TYPES: Dict[str, int] = {"string": AttributeProto.STRING, "int": AttributeProto.INT,
                                        "float": AttributeProto.FLOAT, "bool": AttributeProto.INT}
#: what the message of a mistyped attribute says it must be (the native library's words)
_EXPECTED = {"string": "a STRING", "int": "an INT", "float": "a FLOAT", "bool": "an INT 0 or 1 (a bool)"}


def _kind(attr: AttributeProto) -> str:
    kind = AttributeProto.AttributeType.Name(attr.type)
    return f"{'an' if kind[0] in 'AEIOU' else 'a'} {kind}"


def attribute_value(op: str, declared: Attribute, attr: Optional[AttributeProto]) -> Any:
    """The canonical value of one declared attribute of an ``op`` node (``None``: absent, the default).

    An attribute of another ONNX type than the declared one is a ``ValueError``
    (``reduction``: its own message; the others: ``MESSAGES["bad_attribute_type"]``,
    as the native library says it), a value the attribute's check refuses is its
    ``ValueError`` (a float below its minimum, NaN: ``MESSAGES["bad_attribute_value"]``).
    """
    if attr is None:
        return declared.default
    if declared.name == REDUCTION.name:
        return _reduction_from_attribute(op, attr)
    if attr.type != ONNX_ATTRIBUTE_TYPES[declared.type] or (declared.type == "bool" and attr.i not in (0, 1)):
        raise ValueError(MESSAGES["bad_attribute_type"].format(op=op, attr=declared.name,
                                                               expected=_EXPECTED[declared.type], kind=_kind(attr)))
    if declared.type == "string":
        return declared.check(attr.s.decode("utf-8", errors="surrogateescape"), op)
    if declared.type == "float":
        return declared.check(float(attr.f), op)
    return declared.check(bool(attr.i) if declared.type == "bool" else int(attr.i), op)


def attribute_values(node: onnx.NodeProto, op: Optional[OpDef] = None) -> Dict[str, Any]:
    """Canonical values of every declared attribute of an ``ai.lossgrad`` node, in declared
    order, the defaults for absent ones: what its kernel, function body and reference op compute with.

    Raises ``ValueError`` (the shared messages) for an attribute given twice, one of
    another type than declared, a bad value, and for an attribute the op does not
    declare (``onnx.checker`` rejects those too).
    """
    op = op or OPS[node.op_type]
    check_unique_attributes(node)
    given = {a.name: a for a in node.attribute}
    unknown = [name for name in given if name not in {a.name for a in op.attributes}]
    if unknown:
        raise ValueError(MESSAGES["unknown_attribute"].format(op=op.name, attr=repr(unknown[0]),
                                                              declared=", ".join(a.name for a in op.attributes)))
    return {a.name: attribute_value(op.name, a, given.get(a.name)) for a in op.attributes}


def attribute_values_from_runtime(op: OpDef, values: Mapping[str, Any]) -> Dict[str, Any]:
    """As :func:`attribute_values`, for the Python values a runtime hands over
    (``onnx.reference``: ``str`` for a STRING, ``int`` for an INT, a float for a FLOAT;
    ``None`` or absent: the default)."""
    unknown = [name for name in values if name not in {a.name for a in op.attributes}]
    if unknown:
        raise ValueError(MESSAGES["unknown_attribute"].format(op=op.name, attr=repr(unknown[0]),
                                                              declared=", ".join(a.name for a in op.attributes)))
    out = {}
    for a in op.attributes:
        value = values.get(a.name)
        if value is None:
            out[a.name] = a.default
        elif a.name == REDUCTION.name:
            out[a.name] = reduction_from_value(op.name, value)
        else:
            if isinstance(value, str):
                value = value.encode("utf-8", errors="surrogateescape")
            try:
                proto = helper.make_attribute(a.name, value)
            except (TypeError, ValueError):  # no ONNX attribute type for it
                raise ValueError(MESSAGES["bad_attribute_type"].format(
                    op=op.name, attr=a.name, expected=_EXPECTED[a.type], kind="a value of another type")) from None
            out[a.name] = attribute_value(op.name, a, proto)
    return out


# -- type and shape inference --------------------------------------------------

_Dim = Union[int, str, None]  # known size, symbolic name, or unknown


def _dims(tp: TypeProto) -> Optional[List[_Dim]]:
    """Dimensions of a tensor type (None when the rank is unknown)."""
    if not tp.tensor_type.HasField("shape"):
        return None
    out: List[_Dim] = []
    for d in tp.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            out.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def _broadcast_dims(shapes: Sequence[Sequence[_Dim]]) -> List[_Dim]:
    """NumPy broadcast of already-validated shapes, keeping symbolic names where sound."""
    rank = max((len(s) for s in shapes), default=0)
    out: List[_Dim] = []
    for axis in range(rank):
        entries = [s[axis - (rank - len(s))] for s in shapes if axis - (rank - len(s)) >= 0]
        known = {d for d in entries if isinstance(d, int) and d != 1}
        unknown = [d for d in entries if not isinstance(d, int)]
        if known:
            out.append(known.pop())  # plan() made sure there is at most one
        elif not unknown:
            out.append(1)
        elif all(isinstance(d, str) for d in unknown) and len(set(unknown)) == 1:
            out.append(unknown[0])  # N broadcast with 1 (or N) is N
        else:
            out.append(None)
    return out


def _infer(op: OpDef, ctx) -> None:
    """Type-and-shape inference of one node (raises the shared errors for invalid nodes)."""
    values = {a.name: attribute_value(op.name, a, ctx.get_attribute(a.name)) for a in op.attributes}
    reduction = values.pop(REDUCTION.name)
    n = ctx.get_num_inputs()
    present = sum(bool(ctx.has_input(i)) for i in range(n))
    if present != len(op.inputs):
        # Only reachable without the checker (which reports arity first): the
        # shared TypeError of plan().
        op.plan([()] * present, ["float32"] * present, reduction, **values)
    types = [ctx.get_input_type(i) for i in range(n)]
    if any(t is None for t in types):
        return  # input types not known yet
    for t, name in zip(types, op.inputs):
        if not t.HasField("tensor_type"):
            raise TypeError(f"{op.name}: {name} must be a tensor")
    elem_types = [t.tensor_type.elem_type for t in types]
    if any(e == TensorProto.UNDEFINED for e in elem_types):
        return  # nothing sound to say yet
    dtypes = [elem_type_name(e) for e in elem_types]
    for dt, name in zip(dtypes, op.inputs):
        check_dtype(dt, name, op.name)
    shapes = [_dims(t) for t in types]
    for s, name in zip(shapes, op.inputs):
        if s is not None:
            check_rank(s, name, op.name)
    out_dims: Optional[List[_Dim]] = None
    if all(s is not None for s in shapes):
        numeric = [[d if isinstance(d, int) else -1 for d in s] for s in shapes]
        plan = op.plan(numeric, dtypes, reduction, **values)  # raises for shapes that cannot broadcast
        out_dims = _broadcast_dims(shapes)
        out_elem = ONNX_DTYPES[plan.dtype]
    else:
        out_elem = elem_types[0]
    if op.is_loss and reduction != "none":
        out_dims = []
    out = TypeProto()
    out.tensor_type.elem_type = out_elem
    if out_dims is not None:
        shape = out.tensor_type.shape  # present even for rank 0
        shape.SetInParent()
        for d in out_dims:
            dim = shape.dim.add()
            if isinstance(d, int) and d >= 0:
                dim.dim_value = d
            elif isinstance(d, str):
                dim.dim_param = d
    ctx.set_output_type(0, out)


# -- schemas ---------------------------------------------------------------------

def float32_nearest(value: float) -> float:
    """The float32 value nearest ``value`` (ties to even; beyond the float32 range, an infinity)."""
    with np.errstate(over="ignore"):
        return float(np.float32(value))


def attribute_proto(attr: Attribute, value: Any) -> AttributeProto:
    """The ONNX attribute carrying a canonical value of a declared attribute (a bool as an INT 0/1).

    An ONNX FLOAT attribute is 32-bit: a float value is stored as its nearest float32
    (:func:`float32_nearest`), which is what every ONNX face then computes with.
    """
    if attr.type == "float":
        return helper.make_attribute(attr.name, float32_nearest(value))
    kind = {"string": str, "int": int, "bool": int}[attr.type]
    return helper.make_attribute(attr.name, kind(value))


def _doc(op: OpDef) -> str:
    attrs = " ".join(f"Attribute {a.name!r}: {a.doc} (default {a.default!r})." for a in op.attributes)
    return (f"{op.doc}\n\nInputs ({', '.join(op.inputs)}) broadcast together (NumPy rules, rank <= 8); "
            f"N is the element count of the broadcast shape. {attrs} Float16 and bfloat16 "
            f"are computed in float32 and rounded once.")


def make_schema(op: Union[str, OpDef]) -> onnx.defs.OpSchema:
    """A fresh (unregistered) ``OpSchema`` for ``op`` with its inference function."""
    op = OPS[op] if isinstance(op, str) else op
    S = onnx.defs.OpSchema
    schema = S(
        op.name, DOMAIN, OPSET_VERSION, _doc(op),
        inputs=[S.FormalParameter(name, TYPE_PARAM, f"input {i} of {op.name}") for i, name in enumerate(op.inputs)],
        outputs=[S.FormalParameter(op.output, TYPE_PARAM, "the result")],
        type_constraints=[(TYPE_PARAM, list(_TYPE_STRINGS), "the supported floating types")],
        attributes=[S.Attribute(a.name, attribute_proto(a, a.default), a.doc) for a in op.attributes],
    )
    schema.set_type_and_shape_inference_function(lambda ctx, _op=op: _infer(_op, ctx))
    return schema


def register_schemas() -> List[onnx.defs.OpSchema]:
    """Register the schemas of every declared op with ``onnx.defs`` (idempotent, thread-safe); return them."""
    with _lock:
        for op in OPS.values():
            if not onnx.defs.has(op.name, OPSET_VERSION, DOMAIN):
                onnx.defs.register_schema(make_schema(op))
        return [onnx.defs.get_schema(op.name, OPSET_VERSION, DOMAIN) for op in OPS.values()]


def get_schema(op: str) -> onnx.defs.OpSchema:
    """The registered schema of ``op`` (registering the schemas if needed)."""
    register_schemas()
    return onnx.defs.get_schema(op, OPSET_VERSION, DOMAIN)

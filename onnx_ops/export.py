"""Export of MindSpore networks that use ``ms_ops`` to ONNX models with ``ai.lossgrad`` nodes.

Route: MindSpore's own ONNX exporter, then a rewrite of its output.

MindSpore writes a ``Custom`` primitive as a bare node in the default domain
whose op type is the primitive's reg_info name, without attributes. ``ms_ops``
registers its CPU primitives under
``framework.definitions.custom_reg_name(op, reduction, **attrs)`` (``"FooLossGrad_mean"``),
so the name carries the op and every attribute it declares (floats exactly, as
``float.hex``). :func:`rewrite_mindspore_model` turns every such node into an
``ai.lossgrad`` node with every declared attribute restored as an ONNX attribute
(STRING, INT, FLOAT; a bool as an INT 0/1), casts inputs of mixed element types to the promoted type (ONNX has
no implicit promotion; the MindSpore kernels promote), attaches the function
bodies and opset imports (:func:`onnx_ops.add_functions`), runs strict shape
inference and ``onnx.checker.check_model(full_check=True)``.

Float attributes: an ONNX FLOAT attribute is 32-bit, while the MindSpore op computes
with the float64 value of its registration. A value that is a float32 (``0.25``,
``1.0``, ``3.0``...) is carried exactly. Any other value is stored as its nearest
float32 (ties to even; an infinity beyond the float32 range), and every ONNX face
(the native kernels, the function bodies, the reference ops) computes with that
float32 value, so the exported model may differ from the MindSpore network in the
last bits, or where a threshold falls between the two values; the rewrite warns
with :class:`ExportPrecisionWarning` naming the attribute and both values, and
the node's ``doc_string`` keeps the registration name, hence the exact value.
The rounded value is checked again like any attribute value.

Anything that cannot be exported raises :class:`ExportError` naming the
primitives concerned: ``Custom`` primitives without reg_info (MindSpore's
exporter fails on them; the network's MINDIR tells which they are) and op types
left in the default domain that are not standard ONNX ops.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from typing import Any, Dict, List, Optional

import onnx
from onnx import ModelProto, helper

from ..framework.definitions import DOMAIN, OPS, OPSET_VERSION, parse_custom_reg_name, promote_dtypes

from .functions import _opset_version, _value_types, _walk, add_functions
from .schemas import ONNX_DTYPES, attribute_proto, elem_type_name, float32_nearest

__all__ = ["ExportError", "ExportValueError", "ExportTypeError", "ExportPrecisionWarning", "export",
           "rewrite_mindspore_model", "ATC_OPSETS", "ATC_MAX_IR_VERSION"]


class ExportError(RuntimeError):
    """A network (or a MindSpore ONNX model) cannot be exported as an ai.lossgrad ONNX model.

    When the cause is one of docs/SPEC.md's errors (a ``ValueError`` or ``TypeError``:
    bad reduction, dtype, rank, shapes), the error raised is
    :class:`ExportValueError` or :class:`ExportTypeError`, which are both an
    ``ExportError`` and a ``ValueError``/``TypeError``, so ``except ValueError``
    (or ``TypeError``) catches it as it would without the export.
    """


class ExportValueError(ExportError, ValueError):
    """An :class:`ExportError` caused by a ``ValueError``."""


class ExportTypeError(ExportError, TypeError):
    """An :class:`ExportError` caused by a ``TypeError``."""


class ExportPrecisionWarning(UserWarning):
    """A float attribute of an exported op is not a float32 value: the ONNX model carries
    (and computes with) the nearest float32."""


def _export_error(message: str, cause: BaseException) -> ExportError:
    """An ExportError carrying ``message``, of the class that keeps ``cause``'s ValueError/TypeError-ness."""
    if isinstance(cause, TypeError):
        return ExportTypeError(message)
    if isinstance(cause, ValueError):
        return ExportValueError(message)
    return ExportError(message)


def _is_standard(op_type: str, opset: int) -> bool:
    try:
        onnx.defs.get_schema(op_type, opset, "")
    except onnx.defs.SchemaError:
        return False
    return True


#: the default-domain opsets CANN's ATC reads from ONNX (``atc --framework=5``: "ai.onnx opset
#: v11 to v15", CANN 8.0 ATC guide, parameter --framework) and the newest IR version of those opsets
ATC_OPSETS = range(11, 16)
ATC_MAX_IR_VERSION = 8


def rewrite_mindspore_model(model: ModelProto, *, check: bool = True, function_bodies: bool = True) -> ModelProto:
    """Turn the output of MindSpore's ONNX exporter into a valid ``ai.lossgrad`` model.

    Every default-domain node whose op type is a ``custom_reg_name``
    (``"<Op>_<reduction>"``, then the op's other declared attributes) becomes an
    ``ai.lossgrad`` ``<Op>`` node with its declared attributes. Inputs of mixed element types get ``Cast`` nodes to
    the promoted type. Then :func:`onnx_ops.add_functions`, strict shape
    inference and (``check``) ``onnx.checker.check_model(full_check=True)``.
    With ``function_bodies=False`` (for CANN's ATC, which maps ``ai.lossgrad`` nodes onto
    the op package and reads neither model-local functions nor IR-10 overloads) the model
    gets no bodies and no overloads, keeps an IR version ATC reads (at most
    :data:`ATC_MAX_IR_VERSION`) and must import a default-domain opset in :data:`ATC_OPSETS`.
    Returns a new model; raises :class:`ExportError` for default-domain op types
    that are neither standard ONNX ops nor lossgrad registrations, and
    :class:`ExportValueError`/:class:`ExportTypeError` (also a
    ``ValueError``/``TypeError``) for nodes the shared validation refuses.
    """
    m = ModelProto()
    m.CopyFrom(model)
    opset = _opset_version(m, "")
    if opset is None:
        raise ExportError("the model imports no default-domain opset; is it a MindSpore ONNX export?")
    unknown: List[str] = []
    rewritten = []
    for _, node in _walk(m.graph):
        if node.domain not in ("", "ai.onnx"):
            continue
        parsed = parse_custom_reg_name(node.op_type)
        if parsed is not None:
            op, values = parsed
            _warn_inexact_floats(op, node.op_type, values)
            if not node.doc_string:
                node.doc_string = f"exported from the MindSpore Custom op {node.op_type} (exact attribute values)"
            node.op_type = op
            node.domain = DOMAIN
            keep = [a for a in node.attribute if a.name not in values]
            del node.attribute[:]
            node.attribute.extend(keep)
            node.attribute.extend(attribute_proto(a, values[a.name]) for a in OPS[op].attributes)
            rewritten.append(node)
        elif not _is_standard(node.op_type, opset):
            unknown.append(f"{node.op_type!r} (node {node.name or list(node.output)})")
    if unknown:
        raise ExportError(
            "cannot export: these primitives are neither standard ONNX ops (opset "
            f"{opset}) nor lossgrad ops registered by ms_ops: {', '.join(unknown)}. Custom ops must be the "
            f"ms_ops ones (reg_info named {', '.join(OPS)} + '_<reduction>', then the op's other attributes).")
    if rewritten:
        # MindSpore declares the outputs of Custom ops with the example shapes even
        # when dynamic_axes made the inputs dynamic: let shape inference redo them.
        produced = {name for node in rewritten for name in node.output}
        for vi in list(m.graph.output) + list(m.graph.value_info):
            if vi.name in produced and vi.type.HasField("tensor_type"):
                vi.type.tensor_type.ClearField("shape")
        if _opset_version(m, DOMAIN) is None:
            m.opset_import.append(helper.make_opsetid(DOMAIN, OPSET_VERSION))
    try:
        if rewritten:
            _promote_mixed_inputs(m)
        if function_bodies:
            m = add_functions(m, inplace=True)
        else:
            _without_functions(m, opset)
        m = onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
        if check:
            onnx.checker.check_model(m, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError, ValueError, TypeError) as exc:
        raise _export_error(f"the rewritten model does not validate: {exc}", exc) from exc
    return m


def _without_functions(m: ModelProto, opset: int) -> None:
    """The model as ATC reads it: no ai.lossgrad functions or overloads, an IR version of its opsets."""
    if opset not in ATC_OPSETS:
        raise ExportError(f"ATC reads ONNX models of default-domain opset {ATC_OPSETS[0]} to {ATC_OPSETS[-1]}; this "
                          f"model imports opset {opset} (convert it with onnx.version_converter first)")
    keep = [f for f in m.functions if f.domain != DOMAIN]
    del m.functions[:]
    m.functions.extend(keep)
    for _, node in _walk(m.graph):
        if node.domain == DOMAIN:
            node.overload = ""
    if _opset_version(m, DOMAIN) is None:
        m.opset_import.append(helper.make_opsetid(DOMAIN, OPSET_VERSION))
    standard = [o for o in m.opset_import if o.domain in ("", "ai.onnx")]
    if m.ir_version > ATC_MAX_IR_VERSION:  # the lowest that holds its opsets (at most 8 for opset 15)
        m.ir_version = helper.find_min_ir_version_for(standard)


def _warn_inexact_floats(op: str, reg_name: str, values: Dict[str, Any]) -> None:
    """Warn for each float attribute value that the 32-bit ONNX attribute cannot carry exactly."""
    for a in OPS[op].attributes:
        if a.type != "float":
            continue
        value = values[a.name]
        rounded = float32_nearest(value)
        if rounded != value:
            warnings.warn(
                f"{reg_name}: the {a.name} value {value!r} ({value.hex()}) is not a float32 value; the ONNX "
                f"{op} node carries its nearest float32 {rounded!r}, and every ONNX runtime computes with that",
                ExportPrecisionWarning, stacklevel=3)
            try:
                a.check(rounded, op)  # still a valid value (rounding cannot cross an exact float32 minimum)
            except (ValueError, TypeError) as exc:
                raise _export_error(f"{reg_name}: {exc}", exc) from exc


def _promote_mixed_inputs(m: ModelProto) -> None:
    """Insert Casts so every ai.lossgrad node has inputs of one (the promoted) type."""
    types: Dict[str, int] = {}
    _value_types(m.graph, types)
    _value_types(onnx.shape_inference.infer_shapes(m).graph, types)
    counter = 0
    for graph, node in list(_walk(m.graph)):
        if node.domain != DOMAIN:
            continue
        elems = [types.get(name) for name in node.input]
        if any(e is None for e in elems) or len(set(elems)) == 1:
            continue  # unknown types are reported by add_functions
        names = [elem_type_name(e) for e in elems]
        if not all(n in ONNX_DTYPES for n in names):
            continue  # unsupported types: the shared TypeError comes from add_functions
        target = ONNX_DTYPES[promote_dtypes(names)]
        position = next(k for k, n in enumerate(graph.node) if list(n.output) == list(node.output))
        for i, (name, elem) in enumerate(zip(list(node.input), elems)):
            if elem == target:
                continue
            counter += 1
            cast_out = f"{name}__lossgrad_cast{counter}"
            cast = helper.make_node("Cast", [name], [cast_out], name=f"lossgrad_promote_{counter}", to=target)
            graph.node.insert(position, cast)
            position += 1
            node.input[i] = cast_out


def _mindir_custom_primitives(net: Any, inputs: tuple) -> List[Dict[str, str]]:
    """Custom primitives of ``net`` as seen in its MINDIR (name, func, reg_op_name)."""
    import mindspore as ms
    from mindspore.train import mind_ir_pb2

    with tempfile.TemporaryDirectory(prefix="lossgrad_mindir_") as tmp:
        base = os.path.join(tmp, "net")
        ms.export(net, *inputs, file_name=base, file_format="MINDIR")
        proto = mind_ir_pb2.ModelProto()
        with open(base + ".mindir", "rb") as f:
            proto.ParseFromString(f.read())
    found = []
    for prim in proto.primitives:
        if prim.op_type != "Custom":
            continue
        attrs = {a.name: a.s.decode("utf-8", "replace") for a in prim.attribute if a.s}
        found.append({"instance": prim.instance_name or prim.name, "func": attrs.get("func_name", "?"),
                      "func_type": attrs.get("func_type", "?"), "reg_op_name": attrs.get("reg_op_name", "")})
    return found


def _mindspore_onnx_export(net: Any, inputs: tuple, path: str, **kwargs: Any) -> None:
    import mindspore as ms

    exporter = getattr(getattr(ms, "onnx", None), "export", None)
    if exporter is not None:
        exporter(net, *inputs, file_name=path, **kwargs)
    else:  # older MindSpore
        if kwargs:
            raise TypeError(f"this MindSpore's exporter takes no {', '.join(kwargs)}")
        ms.export(net, *inputs, file_name=path, file_format="ONNX")


def export(net: Any, *inputs: Any, file_name: Optional[str] = None, check: bool = True,
           function_bodies: bool = True, **mindspore_kwargs: Any) -> ModelProto:
    """Export a MindSpore network that uses ``ms_ops`` ops to an ONNX model.

    ``inputs`` are example inputs (as for ``mindspore.export``). The result has
    ``ai.lossgrad`` nodes with their ``reduction`` attribute, the function bodies
    and opset imports, inferred shapes, and passes
    ``onnx.checker.check_model(full_check=True)`` (unless ``check=False``). It is
    written to ``file_name`` (``.onnx`` appended when missing) if given, and
    returned. Extra keyword arguments go to ``mindspore.onnx.export``
    (``input_names``, ``output_names``, ``dynamic_axes``...). ``function_bodies=False``
    writes the model for CANN's ATC (``atc --framework=5``): no function bodies or overloads,
    an IR version and opset ATC reads (see :func:`rewrite_mindspore_model`); the
    ``ai.lossgrad`` nodes then need the native onnxruntime kernels or the Ascend op package.

    Raises :class:`ExportError` naming the primitives that cannot be exported;
    docs/SPEC.md's ``ValueError``/``TypeError`` raised while MindSpore traces the
    network (bad reduction, dtype, rank, shapes) stay catchable as such
    (:class:`ExportValueError`, :class:`ExportTypeError`).
    Only forward (inference) graphs export: MindSpore's exporter does not
    export backward graphs.
    """
    with tempfile.TemporaryDirectory(prefix="lossgrad_onnx_") as tmp:
        path = os.path.join(tmp, "net.onnx")
        try:
            _mindspore_onnx_export(net, inputs, path, **mindspore_kwargs)
        except (TypeError, ValueError) as exc:
            raise _export_error(f"MindSpore's ONNX exporter rejected the call: {exc}", exc) from exc
        except RuntimeError as exc:
            raise _explain_failure(net, inputs, exc) from exc
        model = onnx.load(path)  # loads external data (models > 2 GB) from tmp too
    result = rewrite_mindspore_model(model, check=check, function_bodies=function_bodies)
    if file_name is not None:
        if not file_name.endswith(".onnx"):
            file_name += ".onnx"
        onnx.save(result, file_name)
    return result


def _explain_failure(net: Any, inputs: tuple, exc: Exception) -> ExportError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    try:
        customs = _mindir_custom_primitives(net, inputs)
    except Exception as inner:  # noqa: BLE001 - the diagnosis is best effort
        return ExportError(f"MindSpore's ONNX exporter failed ({first}); the network could not be inspected "
                           f"either ({inner})")
    bad = [c for c in customs if not c["reg_op_name"]]
    if bad:
        names = "; ".join(f"Custom {c['instance']!r} (func_type {c['func_type']}, func {c['func']})" for c in bad)
        return ExportError(
            f"cannot export: MindSpore's ONNX exporter cannot write Custom primitives without reg_info: {names}. "
            f"Use the ms_ops ops, which carry reg_info ({first})")
    return ExportError(f"MindSpore's ONNX exporter failed: {first}")

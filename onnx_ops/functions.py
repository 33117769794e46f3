"""ONNX function bodies of the ``ai.lossgrad`` ops, made of standard ONNX ops.

A model that carries them runs in any onnxruntime (any execution provider) and
in any ONNX tool that understands model-local functions, without the native
library. :func:`add_functions` attaches them to a model.

One ``FunctionProto`` per (op, attribute values, element type), told apart by
the IR-10 function ``overload`` field which :func:`add_functions` also sets on
every ``ai.lossgrad`` node: the tokens of
:func:`framework.rules.encode_attributes` (the registration-name codec of
``ms_ops``: a string as itself, an int in decimal, a bool as 0/1, a float as
``float.hex``, exact), in declared order, then the element type, joined by
``_``. An op whose only attribute is ``reduction`` keeps the short names
``"mean_float32"`` ...; an op with a float attribute gets e.g.
``"mean_0x1.8000000000000p+1_float32"``. So two nodes whose attribute values
differ in any bit get their own function, and equal values share one. (Why not
ONNX attribute references inside one function per op? The family's body builders
take attribute values as Python numbers: they fold them into constants and may
build a different graph for special values, e.g. a threshold of 0; a reference
could only feed a runtime value.) The function also declares every attribute
with the value it was specialised for (``attribute_proto``). The elementwise
value of each op is its family's body builder (``ONNX_BODIES`` of the modules of
:mod:`framework.families`, over :class:`_Body`); this module adds what all ops
share: casts, the rank guard, the scale of a grad op, the reduction of a loss. Specialising on
the reduction avoids string comparisons inside the body (``onnx.reference``
cannot compare strings of different lengths); specialising on the element type
lets half types compute in float32, as docs/SPEC.md requires:

* float16/bfloat16: inputs are cast to float32, the op is computed in float32
  and the result is cast back once; losses accumulate in float32;
* float32: computed in float32, losses accumulate in float64 (as the native
  kernels do);
* float64: computed and accumulated in float64.

``N``, the divisor of ``mean``, is ``Size`` of the broadcast intermediate (an
int64 at run time), cast to double; the scale ``numerator / N`` is computed in
double and cast once to the compute type.

Inputs whose rank is only known at run time may still have more than 8
dimensions; each body passes its broadcast intermediate through a guard
(:meth:`_Body.rank_guard`) that makes onnxruntime and ``onnx.reference`` fail
for a rank above 8, naming the node ``rank_must_be_at_most_8``, as the native
library and the reference ops do with the shared message.

The body's default-domain opset is the model's (the ONNX checker requires the
two to match). The bodies use only ops whose semantics did not change since
opset 11 (``ReduceSum`` without ``axes``, ``Cast``, ``Size``...), so any opset
from 11 on works; bfloat16 needs 13 (``Cast`` from bfloat16).

Note: ``onnx.reference.ReferenceEvaluator`` of onnx 1.23 ignores the overload
field (it keeps one function per name); evaluate such a model with
:func:`onnx_ops.reference_evaluator` (the reference ops, or the function
bodies inlined with ``function_bodies=True``).
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple, Union

import onnx
from onnx import FunctionProto, GraphProto, ModelProto, NodeProto, TensorProto, helper

from ..framework.definitions import (DOMAIN, DTYPES, MAX_RANK, OPS, OPSET_VERSION, REDUCTION, OpDef,
                                     encode_attributes, normalize_reduction)
from ..framework.registry import ONNX_BODIES

from .schemas import ONNX_DTYPES, attribute_proto, attribute_values, elem_type_name

__all__ = ["function_proto", "overload_name", "add_functions", "lossgrad_nodes", "MIN_OPSET", "MIN_OPSET_BFLOAT16",
           "DEFAULT_OPSET", "MIN_IR_VERSION", "functions_for"]

#: lowest default-domain opset the bodies are valid in (Equal on floats)
MIN_OPSET = 11
#: ... and for bfloat16 nodes (Cast from bfloat16)
MIN_OPSET_BFLOAT16 = 13
#: default-domain opset given to a model that imports none
DEFAULT_OPSET = 18
#: function overloads need IR version 10
MIN_IR_VERSION = 10

_HALF = ("float16", "bfloat16")


def overload_name(reduction: str, dtype: str, op: Union[str, OpDef, None] = None, **attrs: Any) -> str:
    """The ``overload`` of the function for one set of attribute values and element type.

    ``"mean_float32"`` for an op whose only attribute is ``reduction`` (or ``op`` None);
    otherwise every declared attribute's :func:`framework.rules.encode_attributes`
    token, in declared order, then the dtype (``attrs``: the attributes other than
    ``reduction``, checked; absent ones take their defaults).
    """
    if op is None:
        if attrs:
            raise TypeError(f"overload_name: attributes {sorted(attrs)} need the op that declares them")
        return f"{normalize_reduction(reduction)}_{dtype}"
    op = OPS[op] if isinstance(op, str) else op
    return "_".join(encode_attributes(op, op.attribute_values(reduction, **attrs)) + (dtype,))


class _Body:
    """Builds the node list of one function body with unique value names."""

    def __init__(self, compute: str = "float32") -> None:
        self.nodes: List[NodeProto] = []
        self._count = 0
        self.compute = compute  #: the element type the family's nodes compute in

    def const_like(self, value: float, hint: str = "c") -> str:
        """A scalar constant of the compute type."""
        return self.const(value, self.compute, hint)

    def sign(self, x: str) -> str:
        """``sign(x)`` with ``sign(NaN) = NaN``, whatever the runtime's ``Sign`` does with NaN."""
        return self.add("Where", [self.add("Equal", [x, x], "not_nan"), self.add("Sign", [x], "sign"), x], "sign_nan")

    def name(self, hint: str) -> str:
        self._count += 1
        return f"_{hint}{self._count}"

    def add(self, op_type: str, inputs: List[str], hint: str, output: Optional[str] = None, **attrs) -> str:
        out = output or self.name(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def const(self, value: float, dtype: str, hint: str = "c") -> str:
        t = helper.make_tensor(self.name(hint), ONNX_DTYPES[dtype], [], [value])
        return self.add("Constant", [], hint, value=t)

    def cast(self, x: str, dtype: str, hint: str = "cast", output: Optional[str] = None) -> str:
        return self.add("Cast", [x], hint, output, to=ONNX_DTYPES[dtype])

    def rank_guard(self, x: str) -> str:
        """``x`` unchanged (a Reshape to its own shape), but failing at run time if its rank exceeds MAX_RANK.

        The target shape is ``Shape(x) + ReduceSum(ConstantOfShape([MAX_RANK - rank]))``:
        the sum of an int64 zero vector is 0, and for a rank above MAX_RANK the
        ConstantOfShape gets a negative dimension, which onnxruntime and
        onnx.reference refuse; the error names the node
        ``rank_must_be_at_most_8``. (Static ranks are refused earlier, by the
        schema's shape inference; this covers inputs of dynamic rank.) It costs
        a few nodes on at most 8 int64 values, and a Reshape onnxruntime does
        in place.
        """
        shape = self.add("Shape", [x], "shape")
        room = self.add("Sub", [self.const_vector([MAX_RANK], "max_rank"), self.add("Shape", [shape], "rank")],
                        "room")
        zeros = self.add("ConstantOfShape", [room], "zeros", name=f"rank_must_be_at_most_{MAX_RANK}",
                         value=helper.make_tensor("zero", TensorProto.INT64, [1], [0]))
        zero = self.add("ReduceSum", [zeros], "zero", keepdims=0)
        return self.add("Reshape", [x, self.add("Add", [shape, zero], "same_shape")], "ranked")

    def const_vector(self, values: List[int], hint: str) -> str:
        t = helper.make_tensor(self.name(hint), TensorProto.INT64, [len(values)], values)
        return self.add("Constant", [], hint, value=t)


def function_proto(op: Union[str, OpDef], reduction: str, dtype: str, opset: int = DEFAULT_OPSET,
                   **attrs) -> FunctionProto:
    """The ``FunctionProto`` of ``op`` for one reduction and element type.

    ``opset`` is the default-domain opset of the model the function goes into;
    ``attrs``: the op's declared attributes other than ``reduction`` (checked, absent
    ones take their defaults; the family's body builder gets their canonical values
    as keywords). The function's ``overload`` is :func:`overload_name` of them.
    """
    op = OPS[op] if isinstance(op, str) else op
    values = op.attribute_values(reduction, **attrs)
    overload = overload_name(reduction, dtype, op, **attrs)
    specialised = [attribute_proto(a, values[a.name]) for a in op.attributes]
    reduction = values.pop(REDUCTION.name)
    if dtype not in DTYPES:
        raise TypeError(f"{op.name}: no function body for dtype {dtype!r}; supported: {', '.join(DTYPES)}")
    _check_opset(opset, dtype)
    compute = "float64" if dtype == "float64" else "float32"
    accumulate = "float32" if dtype in _HALF else "float64"
    b = _Body(compute)
    x = [b.cast(name, compute, f"{name}_") if compute != dtype else name for name in op.inputs]
    out = op.output

    def store(value: str, value_dtype: str) -> None:
        if value_dtype == dtype:
            b.add("Identity", [value], "out", out)
        else:
            b.cast(value, dtype, output=out)

    def mean_divisor(of: str) -> str:
        """N = Size(of), as a double."""
        return b.cast(b.add("Size", [of], "n"), "float64", "n_f64_")

    # the family's elementwise value, of the broadcast shape of all inputs
    value = b.rank_guard(ONNX_BODIES[op.name](b, x, **values))
    if not op.is_loss:  # value * s
        if reduction == "mean":
            scale64 = b.add("Div", [b.const(op.scale_numerator, "float64", "num"), mean_divisor(value)], "scale_f64_")
            y = b.add("Mul", [value, b.cast(scale64, compute, "scale")], "y")
        elif op.scale_numerator != 1.0:
            y = b.add("Mul", [value, b.const(op.scale_numerator, compute, "scale")], "y")
        else:
            y = value  # multiplying by 1 is exact
        store(y, compute)
    elif reduction == "none":
        store(value, compute)
    else:
        acc = value if accumulate == compute else b.cast(value, accumulate, "acc")
        total = b.add("ReduceSum", [acc], "sum", keepdims=0)
        if reduction == "sum":
            store(total, accumulate)
        else:
            total64 = total if accumulate == "float64" else b.cast(total, "float64", "sum_f64_")
            store(b.add("Div", [total64, mean_divisor(value)], "mean"), "float64")
    fn = helper.make_function(
        DOMAIN, op.name, list(op.inputs), [out], b.nodes,
        opset_imports=[helper.make_opsetid("", opset)],
        attributes=[],
        doc_string=f"{op.name}, {', '.join(f'{k} {v!r}' for k, v in [(REDUCTION.name, reduction), *values.items()])}, "
                   f"{dtype}: {op.doc}",
    )
    fn.attribute_proto.extend(specialised)
    fn.overload = overload
    return fn


def _check_opset(opset: int, dtype: str) -> None:
    need = MIN_OPSET_BFLOAT16 if dtype == "bfloat16" else MIN_OPSET
    if opset < need:
        raise ValueError(
            f"the ai.lossgrad function bodies for {dtype} need default-domain opset >= {need}; the model imports "
            f"opset {opset} (upgrade it with onnx.version_converter.convert_version)")


# -- attaching functions to a model ----------------------------------------------

def _subgraphs(node: NodeProto) -> Iterator[GraphProto]:
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            yield from attr.graphs


def _walk(graph: GraphProto) -> Iterator[Tuple[GraphProto, NodeProto]]:
    for node in graph.node:
        yield graph, node
        for sub in _subgraphs(node):
            yield from _walk(sub)


def lossgrad_nodes(model: ModelProto) -> List[NodeProto]:
    """All ``ai.lossgrad`` nodes of the model's graph and its subgraphs."""
    return [n for _, n in _walk(model.graph) if n.domain == DOMAIN]


def _value_types(graph: GraphProto, into: Dict[str, int]) -> None:
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
            into[vi.name] = vi.type.tensor_type.elem_type
    for init in graph.initializer:
        into[init.name] = init.data_type
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            for attr in node.attribute:
                if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR:
                    into[node.output[0]] = attr.t.data_type
        for sub in _subgraphs(node):
            _value_types(sub, into)


def _node_label(node: NodeProto) -> str:
    return f"{node.op_type} node {node.name!r}" if node.name else f"{node.op_type} node (inputs {list(node.input)})"


def _opset_version(model: ModelProto, domain: str) -> Optional[int]:
    for imp in model.opset_import:
        if imp.domain == domain or (domain == "" and imp.domain == "ai.onnx"):
            return int(imp.version)
    return None


def add_functions(model: ModelProto, *, inplace: bool = False) -> ModelProto:
    """Attach the function bodies every ``ai.lossgrad`` node of ``model`` needs.

    For each ``ai.lossgrad`` node (in the graph and its subgraphs) this finds
    the values of every declared attribute (validated, defaults for absent ones:
    :func:`onnx_ops.schemas.attribute_values`) and the element type of its
    inputs (from the model, after ONNX shape inference), sets the node's
    ``overload`` to :func:`overload_name`, and adds the matching function
    (replacing every earlier ``ai.lossgrad`` function). Overloads and bodies
    are re-derived from the attributes on every call, whatever the model
    carried, so calling it again repairs a model whose attributes were
    edited after an earlier call. It also adds the opset
    imports (``ai.lossgrad`` 1, and the default domain at
    :data:`DEFAULT_OPSET` if the model imports none) and raises
    ``ir_version`` to 10 (function overloads). Returns the model (a copy
    unless ``inplace``).

    Raises ``ValueError`` for a bad, mistyped, duplicated or undeclared
    attribute (the shared messages, non-printable bytes escaped), a node whose input types cannot
    be determined, or an opset too old for the bodies, and ``TypeError`` for
    inputs of unsupported or mixed element types.
    """
    m = model if inplace else copy.deepcopy(model)
    nodes = lossgrad_nodes(m)
    opset = _opset_version(m, "")
    if opset is None:
        opset = DEFAULT_OPSET
        m.opset_import.append(helper.make_opsetid("", opset))
    lg = _opset_version(m, DOMAIN)
    if lg is None:
        m.opset_import.append(helper.make_opsetid(DOMAIN, OPSET_VERSION))
    elif lg != OPSET_VERSION:
        raise ValueError(f"the model imports {DOMAIN} version {lg}; onnx_ops provides version {OPSET_VERSION}")
    if m.ir_version < MIN_IR_VERSION:
        m.ir_version = MIN_IR_VERSION

    types: Dict[str, int] = {}
    if nodes:
        _value_types(m.graph, types)
        if any(name and name not in types for n in nodes for name in n.input):
            inferred = onnx.shape_inference.infer_shapes(m)
            _value_types(inferred.graph, types)

    # (op, overload) -> (attribute values, dtype); keyed by the overload, whose float tokens tell
    # apart values that compare equal (0.0 and -0.0)
    needed: Dict[Tuple[str, str], Tuple[Dict[str, Any], str]] = {}
    for node in nodes:
        op = OPS.get(node.op_type)
        if op is None:
            raise ValueError(f"{_node_label(node)}: unknown op type in domain {DOMAIN}; known: {', '.join(OPS)}")
        values = attribute_values(node, op)
        reduction = values[REDUCTION.name]
        elems = [types.get(name) for name in node.input]
        if len(node.input) != len(op.inputs) or any(not name for name in node.input):
            op.plan([()] * sum(bool(x) for x in node.input), ["float32"] * sum(bool(x) for x in node.input),
                    reduction)  # the shared arity TypeError
        if any(e is None for e in elems):
            missing = [name for name, e in zip(node.input, elems) if e is None]
            raise ValueError(f"{_node_label(node)}: cannot determine the element type of {', '.join(missing)}; "
                             f"declare the types of the graph inputs")
        names = [elem_type_name(e) for e in elems]
        for dt, arg in zip(names, op.inputs):
            if dt not in DTYPES:
                op.plan([()] * len(op.inputs), names, reduction)  # the shared dtype TypeError
        if len(set(names)) != 1:
            raise TypeError(f"{_node_label(node)}: inputs have different element types "
                            f"({', '.join(f'{a} {d}' for a, d in zip(op.inputs, names))}); an ai.lossgrad node "
                            f"takes one type: cast the inputs to the promoted type first")
        dtype = names[0]
        _check_opset(opset, dtype)
        extra = {k: v for k, v in values.items() if k != REDUCTION.name}
        node.overload = overload_name(reduction, dtype, op, **extra)
        needed.setdefault((op.name, node.overload), (values, dtype))

    keep = [f for f in m.functions if f.domain != DOMAIN]
    del m.functions[:]
    m.functions.extend(keep)
    for (op_name, _), (values, dtype) in needed.items():
        extra = dict(values)
        reduction = extra.pop(REDUCTION.name)
        m.functions.append(function_proto(op_name, reduction, dtype, opset, **extra))
    return m


def functions_for(model: ModelProto) -> Set[Tuple[str, str]]:
    """(op type, overload) of the ``ai.lossgrad`` functions a model carries."""
    return {(f.name, f.overload) for f in model.functions if f.domain == DOMAIN}


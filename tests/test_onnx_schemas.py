"""ai.lossgrad ONNX schemas: what they declare, what the checker rejects, what shape inference says,
and the function-body helper."""
from __future__ import annotations

import numpy as np
import onnx
import onnx.defs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from onnx import TensorProto as TP
from onnx import helper

from lossgrad_ops import onnx_ops
from lossgrad_ops.framework.definitions import (DEFAULT_REDUCTION, DOMAIN, DTYPES, MESSAGES, OPS, OPSET_VERSION,
                                                encode_attributes)
from lossgrad_ops.onnx_ops.models import Call, build_model
from lossgrad_ops.onnx_ops.schemas import attribute_proto
from tests.helpers import attribute_cases, attrs_id

OP_NAMES = list(OPS)
REDUCTIONS = ["none", "mean", "sum"]


def node_model(op, shapes, elem=TP.FLOAT, n_inputs=None, opset=18, elems=None, out_shape=(), **attrs):
    """A hand-built single-node model, with no validation."""
    names = [f"x{i}" for i in range(len(OPS[op].inputs) if n_inputs is None else n_inputs)]
    elems = elems or [elem] * len(names)
    shapes = list(shapes) + [[2]] * (len(names) - len(shapes))
    node = helper.make_node(op, names, ["y"], domain=DOMAIN, **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, e, s)
                                            for n, e, s in zip(names, elems, shapes)],
                              [helper.make_tensor_value_info("y", elems[0], list(out_shape))])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(DOMAIN, 1)],
                             ir_version=10)


def check(model):
    onnx.checker.check_model(model, full_check=True)


# -- what the schemas declare -------------------------------------------------------

@pytest.mark.parametrize("op", OP_NAMES)
def test_schema_is_derived_from_the_definitions(op):
    schema = onnx.defs.get_schema(op, OPSET_VERSION, DOMAIN)  # registered on import
    assert schema.domain == DOMAIN and schema.since_version == OPSET_VERSION
    assert [i.name for i in schema.inputs] == list(OPS[op].inputs)
    assert [o.name for o in schema.outputs] == [OPS[op].output]
    assert schema.min_input == schema.max_input == len(OPS[op].inputs)
    (constraint,) = schema.type_constraints
    assert sorted(constraint.allowed_type_strs) == sorted(
        f"tensor({TP.DataType.Name(onnx_ops.ONNX_DTYPES[d]).lower()})" for d in DTYPES)
    assert all(p.type_str == constraint.type_param_str for p in list(schema.inputs) + list(schema.outputs))
    attr = schema.attributes["reduction"]
    assert attr.type == onnx.defs.OpSchema.AttrType.STRING and not attr.required
    assert attr.default_value.s.decode() == DEFAULT_REDUCTION
    # every declared attribute, with its ONNX type and default (a bool is an INT 0/1), nothing else
    assert sorted(schema.attributes) == sorted(a.name for a in OPS[op].attributes)
    for declared in OPS[op].attributes:
        attr = schema.attributes[declared.name]
        assert attr.type == ATTR_TYPES[declared.type] and not attr.required, declared
        assert helper.get_attribute_value(attr.default_value) == helper.get_attribute_value(
            attribute_proto(declared, declared.default)), declared


ATTR_TYPES = {"string": onnx.defs.OpSchema.AttrType.STRING, "int": onnx.defs.OpSchema.AttrType.INT,
              "float": onnx.defs.OpSchema.AttrType.FLOAT, "bool": onnx.defs.OpSchema.AttrType.INT}
#: a value of each ONNX attribute type (helper.make_attribute infers the type)
VALUES_OF_TYPE = {"STRING": "mean", "INT": 1, "FLOAT": 0.5, "STRINGS": ["a"], "INTS": [1], "FLOATS": [0.5]}
_ONNX_TYPE_NAMES = {"string": "STRING", "int": "INT", "float": "FLOAT", "bool": "INT"}


def other_attributes():
    """(op, declared attribute) for every declared attribute other than reduction (which has its own tests)."""
    return [pytest.param(op, a, id=f"{op}-{a.name}") for op in OP_NAMES for a in OPS[op].attributes[1:]]


def test_registration_is_idempotent():
    first = onnx_ops.register_schemas()
    second = onnx_ops.register_schemas()
    assert [s.name for s in first] == [s.name for s in second] == OP_NAMES


def test_dtype_mapping():
    assert onnx_ops.ONNX_DTYPES == {"float16": TP.FLOAT16, "bfloat16": TP.BFLOAT16, "float32": TP.FLOAT,
                                    "float64": TP.DOUBLE}
    assert {v: k for k, v in onnx_ops.ONNX_DTYPES.items()} == onnx_ops.DTYPE_NAMES


# -- what the checker rejects --------------------------------------------------------

def test_a_valid_model_passes():
    for op in OP_NAMES:
        for attrs in attribute_cases(op):
            for red in REDUCTIONS:
                shape = [2] if OPS[op].kind == "grad" or red == "none" else []
                check(node_model(op, [[2]], out_shape=shape, reduction=red, **dict(attrs)))
            check(node_model(op, [[2]], out_shape=[2] if OPS[op].kind == "grad" else [],
                             **dict(attrs)))  # default reduction


@pytest.mark.parametrize("op, declared", other_attributes())
def test_mistyped_declared_attributes_are_rejected(op, declared):
    shape = [2] if OPS[op].kind == "grad" else []
    wrong = [t for t in VALUES_OF_TYPE if t != _ONNX_TYPE_NAMES[declared.type]]
    assert wrong
    for kind in wrong:
        with pytest.raises(onnx.checker.ValidationError, match=f"Mismatched attribute type.*{declared.name}"):
            check(node_model(op, [[2]], out_shape=shape, **{declared.name: VALUES_OF_TYPE[kind]}))


def float_attributes_with_bad_values():
    """(op, float attribute, value it refuses): NaN, and a value below its minimum."""
    out = []
    for op in OP_NAMES:
        for a in OPS[op].attributes:
            if a.type == "float":
                bad = [float("nan")] + ([] if a.minimum is None else [a.minimum - 0.5, a.minimum - 2.0 ** -20])
                out += [pytest.param(op, a, v, id=f"{op}-{a.name}={v}") for v in bad]
    return out


@pytest.mark.parametrize("op, declared, value", float_attributes_with_bad_values())
def test_bad_float_attribute_values_are_rejected_with_the_shared_message(op, declared, value):
    value = float(np.float32(value))  # what an ONNX FLOAT attribute holds
    expected = MESSAGES["bad_attribute_value"].format(op=op, attr=declared.name, requirement=declared.requirement,
                                                      value=repr(value))
    for action in (lambda m: check(m), lambda m: onnx_ops.add_functions(m),
                   lambda m: onnx.shape_inference.infer_shapes(m, strict_mode=True)):
        with pytest.raises(Exception) as info:
            action(node_model(op, [[2]], out_shape=[2] if OPS[op].kind == "grad" else [], **{declared.name: value}))
        assert isinstance(info.value, (ValueError, onnx.shape_inference.InferenceError)), info.value
        assert expected in str(info.value)
    with pytest.raises(ValueError) as info:
        onnx_ops.function_proto(op, "mean", "float32", **{declared.name: value})
    assert str(info.value) == expected


@pytest.mark.parametrize("op", OP_NAMES)
@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_arity_is_rejected(op, delta):
    n = len(OPS[op].inputs) + delta
    with pytest.raises(onnx.checker.ValidationError, match="input size"):
        check(node_model(op, [[2]] * n, n_inputs=n))


@pytest.mark.parametrize("op", OP_NAMES)
def test_unknown_attribute_is_rejected(op):
    with pytest.raises(onnx.checker.ValidationError, match="Unrecognized attribute: reduce"):
        check(node_model(op, [[2]], reduce="mean"))


@pytest.mark.parametrize("value", [1, 1.0, [b"mean"], [1]], ids=repr)
def test_mistyped_reduction_attribute_is_rejected(value):
    with pytest.raises(onnx.checker.ValidationError, match="Mismatched attribute type"):
        check(node_model("MseLossGrad", [[2]], reduction=value))


@pytest.mark.parametrize("op", OP_NAMES)
@pytest.mark.parametrize("bad", ["max", "Mean", "", "elementwise_mean", "1", "sum "])
def test_bad_reduction_value_is_rejected_with_the_shared_message(op, bad):
    with pytest.raises(ValueError) as info:
        check(node_model(op, [[2]], reduction=bad))
    assert str(info.value) == MESSAGES["bad_reduction"].format(op=op, value=repr(bad))


@pytest.mark.parametrize("elem", [TP.INT32, TP.INT64, TP.BOOL, TP.UINT8, TP.COMPLEX64, TP.FLOAT8E4M3FN, TP.STRING],
                         ids=lambda e: TP.DataType.Name(e))
@pytest.mark.parametrize("op", OP_NAMES)
def test_unsupported_element_type_is_rejected_with_the_shared_message(op, elem):
    with pytest.raises(TypeError) as info:
        check(node_model(op, [[2]], elem=elem))
    assert str(info.value) == MESSAGES["bad_dtype"].format(op=op, arg=OPS[op].inputs[0],
                                                           dtype=TP.DataType.Name(elem).lower())


def test_mixed_element_types_are_rejected():
    with pytest.raises(onnx.shape_inference.InferenceError, match="inconsistent type"):
        check(node_model("MseLoss", [[2], [2]], elems=[TP.FLOAT, TP.DOUBLE]))


@pytest.mark.parametrize("op", OP_NAMES)
def test_non_broadcastable_shapes_are_rejected_with_the_shared_message(op):
    shapes = [[2, 3], [4], [2, 1]][:len(OPS[op].inputs)]
    with pytest.raises(ValueError) as info:
        check(node_model(op, shapes, out_shape=[2, 3]))
    msg = str(info.value)
    assert msg.startswith(f"{op}: shapes are not broadcastable")
    for name, s in zip(OPS[op].inputs, shapes):
        assert f"{name} {tuple(s)}" in msg


@pytest.mark.parametrize("op", OP_NAMES)
def test_rank_above_8_is_rejected_with_the_shared_message(op):
    with pytest.raises(ValueError) as info:
        check(node_model(op, [[1] * 9], out_shape=[1] * 9))
    assert str(info.value) == MESSAGES["bad_rank"].format(op=op, arg=OPS[op].inputs[0], rank=9)


# -- shape inference -------------------------------------------------------------------

def inferred_dims(model):
    out = onnx.shape_inference.infer_shapes(model, strict_mode=True).graph.output[0].type.tensor_type
    if not out.HasField("shape"):
        return None
    # strict shape inference names unknown dims with fresh symbols "unk__<i>": still unknown
    return tuple(d.dim_value if d.HasField("dim_value") else
                 (None if not d.dim_param or d.dim_param.startswith("unk__") else d.dim_param) for d in out.shape.dim)


@settings(max_examples=60, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=8, min_side=0, max_side=4),
       op=st.sampled_from(OP_NAMES), reduction=st.sampled_from(REDUCTIONS + [None]),
       dtype=st.sampled_from(DTYPES))
def test_inferred_shape_is_the_broadcast_shape(shapes, op, reduction, dtype):
    ins = shapes.input_shapes[:len(OPS[op].inputs)]
    attrs = {} if reduction is None else {"reduction": reduction}
    model = node_model(op, [list(s) for s in ins], elem=onnx_ops.ONNX_DTYPES[dtype], **attrs)
    del model.graph.output[0].type.tensor_type.shape.dim[:]
    model.graph.output[0].type.tensor_type.ClearField("shape")
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    out = inferred.graph.output[0].type.tensor_type
    assert out.elem_type == onnx_ops.ONNX_DTYPES[dtype]
    reduced = OPS[op].is_loss and (reduction or DEFAULT_REDUCTION) != "none"
    expected = () if reduced else np.broadcast_shapes(*ins)
    assert tuple(d.dim_value for d in out.shape.dim) == tuple(expected)


SYMBOLIC = [
    ((("N", 3), (3,)), ("N", 3)),
    ((("N", 1), (1, "M")), ("N", "M")),
    ((("N",), ("M",)), (None,)),           # N and M may differ: unknown
    ((("N",), (1,)), ("N",)),
    ((("N",), ("N",)), ("N",)),
    ((("N",), (5,)), (5,)),                # a known size > 1 wins
    (((None,), (3,)), (3,)),
    (((None,), ("N",)), (None,)),
    ((None, (3,)), None),                  # unknown rank: unknown shape
]


@pytest.mark.parametrize("shapes, expected", SYMBOLIC, ids=str)
def test_symbolic_dimensions(shapes, expected):
    model = node_model("L1Loss", [None if s is None else list(s) for s in shapes], reduction="none")
    model.graph.output[0].type.tensor_type.ClearField("shape")
    assert inferred_dims(model) == expected
    reduced = node_model("L1Loss", [None if s is None else list(s) for s in shapes], reduction="sum")
    reduced.graph.output[0].type.tensor_type.ClearField("shape")
    assert inferred_dims(reduced) == ()


# -- the function-body helper -------------------------------------------------------------

def test_add_functions_adds_what_the_nodes_need():
    calls = [Call("MseLossGrad", ((2,), (2,), ()), "float32", "mean"),
             Call("MseLossGrad", ((2,), (2,), ()), "float32", None),      # default: same function
             Call("MseLossGrad", ((2,), (2,), ()), "float16", "sum"),
             Call("L1Loss", ((2,), (2,)), "float64", "none")]
    model = build_model(calls, functions=False)
    assert not model.functions
    with_fns = onnx_ops.add_functions(model)
    assert not model.functions, "the input model must not change"
    assert onnx_ops.functions_for(with_fns) == {("MseLossGrad", "mean_float32"), ("MseLossGrad", "sum_float16"),
                                                ("L1Loss", "none_float64")}
    assert [n.overload for n in with_fns.graph.node if n.domain == DOMAIN] == [
        "mean_float32", "mean_float32", "sum_float16", "none_float64"]
    check(with_fns)
    again = onnx_ops.add_functions(with_fns)
    assert len(again.functions) == len(with_fns.functions)


@pytest.mark.parametrize("op, declared", other_attributes())
def test_add_functions_gives_each_attribute_value_its_own_function(op, declared):
    """Nodes that differ in any declared attribute get their own function; equal values share one
    (the default given explicitly is the absent attribute)."""
    shapes = ((2,),) * len(OPS[op].inputs)
    samples = [attrs for attrs in attribute_cases(op) if attrs and attrs[0][0] == declared.name]
    assert len(samples) >= 2
    calls = [Call(op, shapes, "float32", "mean", attrs=attrs) for attrs in samples + samples]
    calls += [Call(op, shapes, "float32", "mean"), Call(op, shapes, "float32", "mean",
                                                        attrs=((declared.name, declared.default),))]
    model = build_model(calls)
    overloads = [n.overload for n in model.graph.node if n.domain == DOMAIN]
    assert len(set(overloads[:len(samples)])) == len(samples)
    assert overloads[:len(samples)] == overloads[len(samples):2 * len(samples)]
    assert overloads[-1] == overloads[-2]
    assert onnx_ops.functions_for(model) == {(op, o) for o in overloads}
    for node, call in zip(model.graph.node, calls):
        values = OPS[op].attribute_values("mean", **dict(call.attrs))
        assert node.overload == "_".join(encode_attributes(OPS[op], values) + ("float32",))
    check(model)


def test_add_functions_fills_in_opsets_and_ir_version():
    node = helper.make_node("L1Loss", ["a", "b"], ["y"], domain=DOMAIN)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, TP.FLOAT, [3]) for n in "ab"],
                              [helper.make_tensor_value_info("y", TP.FLOAT, [])])
    model = helper.make_model(graph, opset_imports=[], ir_version=7)
    del model.opset_import[:]
    out = onnx_ops.add_functions(model)
    assert {(o.domain, o.version) for o in out.opset_import} == {("", onnx_ops.DEFAULT_OPSET), (DOMAIN, 1)}
    assert out.ir_version == 10
    check(out)


def test_add_functions_keeps_other_functions_and_replaces_stale_ones():
    model = build_model([Call("MseLoss", ((2,), (2,)), "float32", "sum")])
    stale = onnx_ops.function_proto("MseLoss", "sum", "float32", 18)
    stale.overload = "old"
    other = helper.make_function("my.domain", "Twice", ["x"], ["y"], [helper.make_node("Add", ["x", "x"], ["y"])],
                                 [helper.make_opsetid("", 18)])
    model.functions.extend([stale, other])
    out = onnx_ops.add_functions(model)
    assert ("MseLoss", "old") not in onnx_ops.functions_for(out)
    assert any(f.domain == "my.domain" for f in out.functions)


def test_add_functions_reaches_subgraphs():
    inner = helper.make_graph([helper.make_node("MseLoss", ["a", "b"], ["z"], domain=DOMAIN, reduction="sum")],
                              "then", [], [helper.make_tensor_value_info("z", TP.FLOAT, [])])
    other = helper.make_graph([helper.make_node("Constant", [], ["w"], value=helper.make_tensor(
        "w", TP.FLOAT, [], [-1.0]))], "else", [], [helper.make_tensor_value_info("w", TP.FLOAT, [])])
    cond = helper.make_node("If", ["c"], ["y"], then_branch=inner, else_branch=other)
    graph = helper.make_graph([cond], "g", [helper.make_tensor_value_info("c", TP.BOOL, []),
                                            helper.make_tensor_value_info("a", TP.FLOAT, [3]),
                                            helper.make_tensor_value_info("b", TP.FLOAT, [3])],
                              [helper.make_tensor_value_info("y", TP.FLOAT, [])])
    model = onnx_ops.add_functions(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)],
                                                     ir_version=10))
    check(model)
    a, b = np.array([1, 2, 3], np.float32), np.array([0, 0, 1], np.float32)
    sess = onnx_ops.inference_session(model, native=False)
    assert sess.run(None, {"c": np.array(True), "a": a, "b": b})[0] == pytest.approx(1 + 4 + 4)


@pytest.mark.parametrize("opset, dtype", [(10, "float32"), (12, "bfloat16")])
def test_add_functions_rejects_too_old_opsets(opset, dtype):
    model = node_model("MseLoss", [[2], [2]], elem=onnx_ops.ONNX_DTYPES[dtype], opset=opset)
    with pytest.raises(ValueError, match="opset >= 1[13]"):
        onnx_ops.add_functions(model)


def test_add_functions_errors():
    with pytest.raises(TypeError, match="different element types"):
        onnx_ops.add_functions(node_model("MseLoss", [[2], [2]], elems=[TP.FLOAT, TP.DOUBLE]))
    with pytest.raises(TypeError, match="label has dtype int32"):
        onnx_ops.add_functions(node_model("MseLoss", [[2], [2]], elems=[TP.FLOAT, TP.INT32]))
    with pytest.raises(ValueError, match=r"reduction must be one of .* got 'max'"):
        onnx_ops.add_functions(node_model("MseLoss", [[2], [2]], reduction="max"))
    with pytest.raises(ValueError, match="must be a STRING"):
        onnx_ops.add_functions(node_model("MseLoss", [[2], [2]], reduction=2))
    with pytest.raises(TypeError, match="expects 3 inputs"):
        onnx_ops.add_functions(node_model("MseLossGrad", [[2], [2]], n_inputs=2))
    unknown = node_model("MseLoss", [[2], [2]])
    unknown.graph.node[0].op_type = "HuberLoss"
    with pytest.raises(ValueError, match="unknown op type"):
        onnx_ops.add_functions(unknown)
    untyped = node_model("MseLoss", [[2], [2]])
    untyped.graph.node[0].input[1] = "nowhere"
    with pytest.raises(ValueError, match="cannot determine the element type of nowhere"):
        onnx_ops.add_functions(untyped)
    wrong_version = node_model("MseLoss", [[2], [2]])
    wrong_version.opset_import[1].version = 2
    with pytest.raises(ValueError, match="version 2"):
        onnx_ops.add_functions(wrong_version)


@pytest.mark.parametrize("op", OP_NAMES)
def test_function_proto_is_a_valid_function(op):
    for dtype in DTYPES:
        for red in REDUCTIONS:
            for attrs in attribute_cases(op):
                fn = onnx_ops.function_proto(op, red, dtype, 18, **dict(attrs))
                tokens = encode_attributes(OPS[op], OPS[op].attribute_values(red, **dict(attrs)))
                assert (fn.domain, fn.name, fn.overload) == (DOMAIN, op, "_".join(tokens + (dtype,)))
                if len(OPS[op].attributes) == 1:
                    assert fn.overload == f"{red}_{dtype}"  # the names of ops with only a reduction stay
                assert fn.overload == onnx_ops.overload_name(red, dtype, op, **dict(attrs))
                # the function declares each attribute with the value it is specialised for
                assert {a.name: helper.get_attribute_value(a) for a in fn.attribute_proto} == {
                    a.name: helper.get_attribute_value(attribute_proto(a, v))
                    for a, v in zip(OPS[op].attributes, OPS[op].attribute_values(red, **dict(attrs)).values())}
                assert list(fn.input) == list(OPS[op].inputs) and list(fn.output) == [OPS[op].output]
                assert {n.op_type for n in fn.node} <= {"Cast", "Sub", "Mul", "Div", "Sign", "Abs", "Equal", "Where",
                                                        "Less", "Size", "ReduceSum", "Constant", "Identity",
                                                        # the rank guard
                                                        "Shape", "ConstantOfShape", "Add", "Reshape"}
                if dtype in ("float16", "bfloat16"):  # half types compute in float32
                    casts = [n for n in fn.node if n.op_type == "Cast"]
                    assert {a.i for n in casts[:len(OPS[op].inputs)] for a in n.attribute} == {TP.FLOAT}
    with pytest.raises(ValueError):
        onnx_ops.function_proto(op, "max", "float32")
    with pytest.raises(TypeError):
        onnx_ops.function_proto(op, "mean", "int32")

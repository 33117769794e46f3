"""Regression tests of issue 8 for the ONNX face (items 6, 10, 11).

* 6: a node whose ``reduction`` was edited after ``add_functions`` runs what its
  attribute says on every path (the bodies path used to run the stale overload);
  a duplicated ``reduction`` attribute is rejected on every path.
* 10: the function bodies fail at run time for rank > 8 (dynamic rank), as the
  native library and the reference ops do; the reference ops reject an INT
  ``reduction`` attribute with the package's message.
* 11: non-printable bytes of a ``reduction`` attribute are escaped in every
  message (the native library used to return an undecodable status, or cut the
  text at a NUL); the reference evaluator gives the package's dtype TypeError
  for int/bool inputs; ``export`` keeps ValueError/TypeError catchable as such.

Values are compared with the float64 NumPy reference of framework/reference.py.
"""
from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper

from lossgrad_ops import onnx_ops
from lossgrad_ops.framework import reference as ref
from lossgrad_ops.framework.definitions import DOMAIN, MESSAGES, OPS
from lossgrad_ops.onnx_ops.schemas import attribute_type_message
from lossgrad_ops.onnx_ops.schemas import attribute_proto
from tests.helpers import assert_close, attribute_cases, rand, run_onnx_path

NATIVE = onnx_ops.native_available()
needs_native = pytest.mark.skipif(not NATIVE, reason="native onnxruntime library not built")
F = TP.FLOAT


def _model(op, elems, shapes, attributes=None, **attrs):
    """A hand-built single-node model (not validated); inputs x0, x1, ...; ``attributes``: raw AttributeProtos."""
    names = [f"x{i}" for i in range(len(elems))]
    node = helper.make_node(op, names, ["y"], name=f"{op}_node", domain=DOMAIN, **attrs)
    node.attribute.extend(attributes or [])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, e, s)
                                            for n, e, s in zip(names, elems, shapes)],
                              [helper.make_tensor_value_info("y", elems[0], None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(DOMAIN, 1)],
                             ir_version=10)


def _feeds(arrays):
    return {f"x{i}": a for i, a in enumerate(arrays)}


def _quiet_session(model, native):
    import onnxruntime as ort

    so = onnx_ops.session_options(native=native)
    so.log_severity_level = 4  # the failures are expected: keep onnxruntime's log quiet
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _run_path(path, model, arrays):
    return run_onnx_path(path, model, _feeds(arrays))


PATHS = [pytest.param("ort-native", marks=needs_native), "ort-functions", "reference-ops", "reference-functions"]


# -- item 6: stale overloads -------------------------------------------------------------------------

def _set_reduction(model, value: bytes):
    (attr,) = [a for a in model.graph.node[0].attribute if a.name == "reduction"]
    attr.s = value


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("op", list(OPS))
def test_a_reduction_edited_after_add_functions_is_what_runs(path, op):
    arity = len(OPS[op].inputs)
    model = onnx_ops.add_functions(_model(op, [F] * arity, [[2, 3]] * arity, reduction="none"))
    assert model.graph.node[0].overload == onnx_ops.overload_name("none", "float32", op)
    _set_reduction(model, b"sum")  # the overload still says none_float32
    rng = np.random.default_rng(6)
    arrays = [rand(rng, (2, 3), np.float32) for _ in range(arity)]
    (out,) = _run_path(path, model, arrays)
    expected = ref.run(op, *[a.astype(np.float64) for a in arrays], reduction="sum")
    assert_close(out, expected, np.float32, reduction_terms=6)


def _edits():
    """(op, first attribute case, the case it is edited to) for every op with attributes beyond reduction."""
    out = []
    for op in OPS:
        cases = [c for c in attribute_cases(op) if c]
        out += [pytest.param(op, a, b, id=f"{op}-{a}-{b}") for a, b in zip(cases, cases[1:] + cases[:1])
                if a[0][0] == b[0][0]]
    return out


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("op, first, edited", _edits())
def test_an_attribute_edited_after_add_functions_is_what_runs(path, op, first, edited):
    (name, _), (_, value) = first[0], edited[0]
    arity = len(OPS[op].inputs)
    model = onnx_ops.add_functions(_model(op, [F] * arity, [[4, 5]] * arity, reduction="sum", **dict(first)))
    (attr,) = [a for a in model.graph.node[0].attribute if a.name == name]
    attr.CopyFrom(attribute_proto(next(a for a in OPS[op].attributes if a.name == name), value))
    rng = np.random.default_rng(16)
    arrays = [rng.uniform(-2, 2, (4, 5)).astype(np.float32) for _ in range(arity)]
    (out,) = _run_path(path, model, arrays)
    expected = ref.run(op, *[a.astype(np.float64) for a in arrays], reduction="sum", **dict(edited))
    assert_close(out, expected, np.float32, reduction_terms=20)
    stale = ref.run(op, *[a.astype(np.float64) for a in arrays], reduction="sum", **dict(first))
    assert not np.allclose(stale, expected), "the edit must change the result for this test to mean anything"


def test_the_issue_example_gives_91():
    # the issue: MseLoss(none) edited to sum, predict 1..6, label 0: 1 + 4 + ... + 36 = 91
    model = onnx_ops.add_functions(_model("MseLoss", [F, F], [[2, 3], [2, 3]], reduction="none"))
    _set_reduction(model, b"sum")
    x = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    (out,) = onnx_ops.inference_session(model, native=False).run(None, _feeds([x, np.zeros_like(x)]))
    assert out.shape == () and float(out) == 91.0 == float(np.sum(x.astype(np.float64) ** 2))


def test_add_functions_rederives_every_overload_on_every_call():
    model = onnx_ops.add_functions(_model("MseLossGrad", [F, F, F], [[2, 3]] * 3, reduction="mean"))
    _set_reduction(model, b"sum")
    model.graph.node[0].overload = "bogus"
    fixed = onnx_ops.add_functions(model)
    assert fixed.graph.node[0].overload == "sum_float32"
    assert onnx_ops.functions_for(fixed) == {("MseLossGrad", "sum_float32")}
    assert model.graph.node[0].overload == "bogus"  # the input model is left alone


def test_inference_session_fixes_a_copy_not_the_callers_model():
    model = onnx_ops.add_functions(_model("L1Loss", [F, F], [[4], [4]], reduction="none"))
    _set_reduction(model, b"mean")
    before = model.SerializeToString()
    x, y = np.array([1, -2, 3, 4], np.float32), np.zeros(4, np.float32)
    (out,) = onnx_ops.inference_session(model, native=False).run(None, _feeds([x, y]))
    assert float(out) == 2.5
    assert model.SerializeToString() == before


# -- item 6: duplicated attributes -----------------------------------------------------------------------

def _duplicated(op="MseLoss", attr="reduction"):
    """A node carrying ``attr`` twice (two valid values of it)."""
    arity = len(OPS[op].inputs)
    if attr == "reduction":
        return _model(op, [F] * arity, [[2, 3]] * arity, reduction="none",
                      attributes=[helper.make_attribute("reduction", "sum")])
    declared = next(a for a in OPS[op].attributes if a.name == attr)
    values = [v for case in attribute_cases(op) for k, v in case if k == attr]
    return _model(op, [F] * arity, [[2, 3]] * arity, reduction="none",
                  attributes=[attribute_proto(declared, v) for v in values[:2]])


def _duplicate_message(op, attr="reduction"):
    return MESSAGES["duplicate_attribute"].format(op=op, attr=attr, count=2)


#: (op, attribute) for every declared attribute of every op
DECLARED = [pytest.param(op, a.name, id=f"{op}-{a.name}") for op in OPS for a in OPS[op].attributes]


@pytest.mark.parametrize("op, attr", DECLARED)
def test_a_duplicated_attribute_is_rejected_by_add_functions(op, attr):
    with pytest.raises(ValueError, match=re.escape(_duplicate_message(op, attr))):
        onnx_ops.add_functions(_duplicated(op, attr))


@pytest.mark.parametrize("op, attr", DECLARED)
def test_a_duplicated_attribute_is_rejected_by_the_reference_ops(op, attr):
    arity = len(OPS[op].inputs)
    with pytest.raises(ValueError, match=re.escape(_duplicate_message(op, attr))):
        onnx_ops.reference_evaluator(_duplicated(op, attr)).run(None, _feeds([np.ones((2, 3), np.float32)] * arity))


@needs_native
@pytest.mark.parametrize("op, attr", DECLARED)
def test_a_duplicated_attribute_is_rejected_by_onnxruntime_with_the_native_library(op, attr):
    with pytest.raises(Exception, match=f"Attribute '{attr}' appeared multiple times"):
        _quiet_session(_duplicated(op, attr), native=True)


#: a value of each ONNX attribute type
_OF_TYPE = {onnx.AttributeProto.STRING: "mean", onnx.AttributeProto.INT: 2, onnx.AttributeProto.FLOAT: 0.5,
            onnx.AttributeProto.FLOATS: [0.5], onnx.AttributeProto.INTS: [1]}
_EXPECTED = {"string": "a STRING", "int": "an INT", "float": "a FLOAT", "bool": "an INT 0 or 1 (a bool)"}


def _mistyped():
    """(op, declared attribute other than reduction, a value of another ONNX type)."""
    out = []
    for op in OPS:
        for a in OPS[op].attributes[1:]:
            right = attribute_proto(a, a.default).type
            out += [pytest.param(op, a.name, v, id=f"{op}-{a.name}-{onnx.AttributeProto.AttributeType.Name(t)}")
                    for t, v in _OF_TYPE.items() if t != right]
    return out


@pytest.mark.parametrize("op, attr, value", _mistyped())
def test_a_mistyped_attribute_is_rejected_with_the_shared_message_on_every_path(op, attr, value):
    arity = len(OPS[op].inputs)
    declared = next(a for a in OPS[op].attributes if a.name == attr)
    proto = helper.make_attribute(attr, value)
    kind = onnx.AttributeProto.AttributeType.Name(proto.type)
    expected = MESSAGES["bad_attribute_type"].format(op=op, attr=attr, expected=_EXPECTED[declared.type],
                                                     kind=f"{'an' if kind[0] in 'AEIOU' else 'a'} {kind}")
    model = _model(op, [F] * arity, [[2]] * arity, **{attr: value})
    actions = [lambda: onnx_ops.add_functions(model),
               lambda: onnx_ops.inference_session(model, native=False),
               lambda: onnx_ops.reference_evaluator(model).run(None, _feeds([np.ones(2, np.float32)] * arity)),
               lambda: onnx_ops.reference_evaluator(model, function_bodies=True)]
    if NATIVE:  # the native library's own reading of the attribute, the same message
        actions.append(lambda: _quiet_session(model, native=True))
    for action in actions:
        with pytest.raises(Exception) as info:
            action()
        assert expected in str(info.value), info.value


@pytest.mark.parametrize("op", list(OPS))
def test_an_undeclared_attribute_is_rejected_by_add_functions_and_the_reference_ops(op):
    arity = len(OPS[op].inputs)
    model = _model(op, [F] * arity, [[2]] * arity, reduce="sum")
    with pytest.raises(ValueError, match=f"{op}: unknown attribute 'reduce'"):
        onnx_ops.add_functions(model)
    with pytest.raises(ValueError, match=f"{op}: unknown attribute 'reduce'"):
        onnx_ops.reference_evaluator(model).run(None, _feeds([np.ones(2, np.float32)] * arity))


def test_a_duplicated_reduction_is_rejected_by_the_bodies_path():
    with pytest.raises(ValueError, match=re.escape(_duplicate_message("MseLoss"))):
        onnx_ops.inference_session(_duplicated(), native=False)
    with pytest.raises(ValueError, match=re.escape(_duplicate_message("MseLoss"))):
        onnx_ops.reference_evaluator(_duplicated(), function_bodies=True)


@needs_native
def test_a_duplicated_reduction_is_rejected_by_onnxruntime_with_the_native_library():
    # onnxruntime refuses the graph before any kernel exists (a kernel only sees one value)
    with pytest.raises(Exception, match="Attribute 'reduction' appeared multiple times"):
        _quiet_session(_duplicated(), native=True)


def test_a_duplicated_reduction_is_rejected_by_the_checker():
    model = _duplicated()
    model.graph.output[0].type.tensor_type.shape.SetInParent()  # rank 0: a valid model but for the duplicate
    with pytest.raises(onnx.checker.ValidationError, match="'reduction' appeared multiple times"):
        onnx.checker.check_model(model, full_check=True)


# -- item 10: rank above 8 in the function bodies; INT reduction in the reference ops ----------------------

@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_function_bodies_refuse_rank_9_at_run_time(op, reduction):
    arity = len(OPS[op].inputs)
    model = onnx_ops.add_functions(_model(op, [F] * arity, [None] * arity, reduction=reduction))
    session = _quiet_session(model, native=False)
    rng = np.random.default_rng(10)
    ok = [rand(rng, (1, 2, 1, 2, 1, 1, 2, 1), np.float32), rand(rng, (2, 1), np.float32),
          rand(rng, (), np.float32)][:arity]
    (out,) = session.run(None, _feeds(ok))  # rank 8 runs, with the right values
    assert_close(out, ref.run(op, *[a.astype(np.float64) for a in ok], reduction=reduction), np.float32,
                 reduction_terms=16)
    for position in range(arity):
        bad = list(ok)
        bad[position] = np.ones([1] * 9, np.float32)
        with pytest.raises(Exception, match="rank_must_be_at_most_8"):
            session.run(None, _feeds(bad))
        with pytest.raises(ValueError), np.errstate(all="ignore"):
            onnx_ops.reference_evaluator(model, function_bodies=True).run(None, _feeds(bad))


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("value", [2, 1.0, [1]])
def test_reference_ops_reject_a_reduction_attribute_that_is_not_a_string(op, value):
    arity = len(OPS[op].inputs)
    model = _model(op, [F] * arity, [[2]] * arity, reduction=value)
    expected = attribute_type_message(op, helper.make_attribute("reduction", value))
    with pytest.raises(ValueError, match=re.escape(expected)):
        onnx_ops.reference_evaluator(model).run(None, _feeds([np.ones(2, np.float32)] * arity))


# -- item 11: escaped bytes in messages --------------------------------------------------------------

ESCAPED = [(b"\xff", r"'\xff'"), (b"sum\x00junk", r"'sum\x00junk'"), (b"me\nan\t\x7f", r"'me\nan\t\x7f'"),
           (b"caf\xc3\xa9", r"'caf\xc3\xa9'"), (b"a'b\\c", r"'a\'b\\c'")]


def _bad_reduction(op, shown):
    return MESSAGES["bad_reduction"].format(op=op, value=shown)


@pytest.mark.parametrize("raw,shown", ESCAPED)
def test_python_paths_escape_non_printable_reduction_bytes(raw, shown):
    model = _model("MseLoss", [F, F], [[2], [2]], reduction=raw)
    for action in (lambda: onnx_ops.add_functions(model),
                   lambda: onnx_ops.reference_evaluator(model).run(None, _feeds([np.ones(2, np.float32)] * 2)),
                   lambda: onnx_ops.inference_session(model, native=False),
                   lambda: onnx.shape_inference.infer_shapes(model, strict_mode=True)):
        with pytest.raises(Exception) as info:
            action()
        assert isinstance(info.value, (ValueError, onnx.shape_inference.InferenceError)), info.value
        assert _bad_reduction("MseLoss", shown) in str(info.value)


@needs_native
@pytest.mark.parametrize("raw,shown", ESCAPED)
def test_the_native_library_escapes_non_printable_reduction_bytes(raw, shown):
    with pytest.raises(Exception) as info:
        _quiet_session(_model("L1LossGrad", [F, F, F], [[2], [2], [2]], reduction=raw), native=True)
    assert not isinstance(info.value, UnicodeError), info.value
    assert _bad_reduction("L1LossGrad", shown) in str(info.value)


@pytest.mark.parametrize("elem,dtype", [(TP.INT32, np.int32), (TP.INT64, np.int64), (TP.BOOL, np.bool_)])
@pytest.mark.parametrize("op", list(OPS))
def test_reference_evaluator_gives_the_package_type_error_for_int_and_bool(op, elem, dtype):
    arity = len(OPS[op].inputs)
    model = _model(op, [elem] * arity, [[2]] * arity, reduction="sum")
    with pytest.raises(TypeError) as info:
        onnx_ops.reference_evaluator(model).run(None, _feeds([np.ones(2, dtype)] * arity))
    expected = MESSAGES["bad_dtype"].format(op=op, arg=OPS[op].inputs[0], dtype=np.dtype(dtype).name)
    assert str(info.value) == expected


# -- item 11: export keeps the class of SPEC's errors ----------------------------------------------------

def _mindspore_like(label_elem):
    """A default-domain node named like an ms_ops registration, as MindSpore's exporter writes it."""
    node = helper.make_node("MseLoss_sum", ["p", "l"], ["loss"], name="Custom_1")
    graph = helper.make_graph([node], "Default", [helper.make_tensor_value_info("p", F, [2, 3]),
                                                  helper.make_tensor_value_info("l", label_elem, [2, 3])],
                              [helper.make_tensor_value_info("loss", F, [])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], ir_version=6)


def test_rewrite_keeps_a_type_error_a_type_error():
    with pytest.raises(TypeError) as info:
        onnx_ops.rewrite_mindspore_model(_mindspore_like(TP.INT32))
    assert isinstance(info.value, onnx_ops.ExportError)
    assert MESSAGES["bad_dtype"].format(op="MseLoss", arg="label", dtype="int32") in str(info.value)


def test_export_keeps_value_and_type_errors_catchable_as_such():
    ms = pytest.importorskip("mindspore")
    ms_ops = pytest.importorskip("lossgrad_ops.ms_ops")
    from mindspore import nn

    class Net(nn.Cell):
        def __init__(self, reduction):
            super().__init__()
            self.reduction = reduction

        def construct(self, x, y):
            return ms_ops.mse_loss(x, y, reduction=self.reduction)

    f = np.ones((2, 3), np.float32)
    cases = [("mean", f, np.ones((3, 2), np.float32), ValueError,
              MESSAGES["not_broadcastable"].format(op="MseLoss", shapes="input (2, 3), target (3, 2)")),
             ("mean", f.astype(np.int32), f.astype(np.int32), TypeError,
              MESSAGES["bad_dtype"].format(op="MseLoss", arg="input", dtype="int32"))]
    for reduction, x, y, cls, message in cases:
        with pytest.raises(cls) as info:
            onnx_ops.export(Net(reduction), ms.Tensor(x), ms.Tensor(y))
        assert isinstance(info.value, onnx_ops.ExportError)  # still an ExportError (a RuntimeError) too
        assert message in str(info.value)


# -- attributes that refer to the attributes of an enclosing function -----------------------------------

def _function(op):
    """A FunctionProto ``my.domain.Wrap`` holding one ``op`` node, each declared attribute of which refers
    to the function's attribute of the same name."""
    names = [f"x{i}" for i in range(len(OPS[op].inputs))]
    inner = helper.make_node(op, names, ["y"], domain=DOMAIN)
    for a in OPS[op].attributes:
        inner.attribute.append(onnx.AttributeProto(name=a.name, ref_attr_name=a.name,
                                                   type=attribute_proto(a, a.default).type))
    return helper.make_function("my.domain", "Wrap", names, ["y"], [inner],
                                [helper.make_opsetid("", 18), helper.make_opsetid(DOMAIN, 1)],
                                attributes=[a.name for a in OPS[op].attributes])


@pytest.mark.parametrize("op", list(OPS))
def test_reference_ops_take_attributes_referring_to_a_function_attribute(op):
    """onnx.reference evaluating a function: the node's attribute values are only known at run time
    (``run(..., attributes=...)``); the reference ops take and validate every declared one then."""
    arity = len(OPS[op].inputs)
    rng = np.random.default_rng(20)
    arrays = [rng.uniform(-2, 2, (2, 3)).astype(np.float32) for _ in range(arity)]
    evaluator = onnx_ops.reference_evaluator(_function(op))
    for attrs in attribute_cases(op):
        for reduction in ("none", "sum"):
            given = dict(attrs, reduction=reduction)
            for a in OPS[op].attributes:  # every referred attribute needs a value
                given.setdefault(a.name, a.default)
            (out,) = evaluator.run(None, _feeds(arrays), attributes=given)
            expected = ref.run(op, *[a.astype(np.float64) for a in arrays], reduction=reduction, **dict(attrs))
            assert_close(out, expected, np.float32, reduction_terms=6)
    defaults = {a.name: a.default for a in OPS[op].attributes}
    with pytest.raises(ValueError, match=re.escape(MESSAGES["bad_reduction"].format(op=op, value="'max'"))):
        evaluator.run(None, _feeds(arrays), attributes=dict(defaults, reduction="max"))
    for a in OPS[op].attributes:
        if a.type == "float" and a.minimum is not None:
            bad = a.minimum - 0.5
            expected = MESSAGES["bad_attribute_value"].format(op=op, attr=a.name, requirement=a.requirement,
                                                              value=repr(bad))
            with pytest.raises(ValueError, match=re.escape(expected)):
                evaluator.run(None, _feeds(arrays), attributes=dict(defaults, **{a.name: bad}))
            with pytest.raises(ValueError, match=f"the {a.name} attribute must be a FLOAT; got a STRING"):
                evaluator.run(None, _feeds(arrays), attributes=dict(defaults, **{a.name: "1.0"}))

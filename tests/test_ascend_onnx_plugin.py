"""The ATC parser plugin's attribute handling (framework/ascend/framework/onnx_plugin).

ATC gives an ONNX parser plugin the node's attributes as JSON, in the source
operator's attribute "attribute": the AttributeProto list as CANN's Pb2Json
writes it (enums as numbers, float as "%g" text, bytes C-escaped, zero values
left out; see :func:`atc_json`). The plugin's reader (lossgrad_onnx_attr.h,
compiled into the simulation library) is fed that JSON, and protobuf's own
json_format spellings of real onnx NodeProtos (base64 bytes, enum names).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from google.protobuf import json_format
from onnx import helper

from lossgrad_ops.framework import definitions as defs
from tests.ascend_sim import OPS, sim

FOUND, DEFAULTED, ERROR = 0, 1, -1


def node(op, **attrs):
    inputs = list(defs.OPS[op].inputs)
    return helper.make_node(op, inputs, ["y"], domain=defs.DOMAIN, **attrs)


def cescape(data: bytes) -> str:
    """protobuf's CEscape (strutil.cc), which Pb2Json applies to bytes fields."""
    named = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x22: '\\"', 0x27: "\\'", 0x5C: "\\\\"}
    return "".join(named.get(b, chr(b) if 0x20 <= b < 0x7F else "\\%03o" % b) for b in data)


def atc_json(proto):
    """The "attribute" JSON that CANN's ONNX parser gives a ParseParamsByOperatorFn plugin.

    hicann/ge: OnnxModelParser::ParseOpParam -> Message2Operator::ParseOperatorAttrs
    (parser/common/convert/message2operator.cc) -> Pb2Json::RepeatedMessage2Json with
    enum2str=false (pb2json.cc): proto3 fields equal to their default are left out,
    the type is its number, a float is sprintf_s("%g") into 10 bytes (a JSON number if
    that does not fit), int64 a number, bytes CEscape'd, repeated fields as JSON lists
    (repeated bytes raw), messages as objects; dumped by nlohmann::json with indent 2.
    """
    items = []
    for a in proto.attribute:
        item = {}
        if a.name:
            item["name"] = a.name
        if a.type:
            item["type"] = int(a.type)
        if a.f != 0:
            text = "%g" % a.f
            item["f"] = text if len(text) < 10 else float(a.f)
        if a.i != 0:
            item["i"] = int(a.i)
        if a.s:
            item["s"] = cescape(a.s)
        if a.HasField("t"):
            item["t"] = {"dims": list(a.t.dims), "data_type": a.t.data_type, "raw_data": cescape(a.t.raw_data)}
        for field in ("floats", "ints"):
            if len(getattr(a, field)):
                item[field] = list(getattr(a, field))
        if len(a.strings):
            item["strings"] = [v.decode() for v in a.strings]
        items.append(item)
    return json.dumps({"attribute": items}, indent=2, sort_keys=True, ensure_ascii=False)


def variants(proto):
    """protobuf's json_format spellings of the node, with the type as a name (how the plugin tells
    base64 bytes from Pb2Json's C escapes; json_format with integer enums is not read)."""
    yield json_format.MessageToJson(proto)
    yield json_format.MessageToJson(proto, preserving_proto_field_name=True, indent=None)


@pytest.mark.parametrize("reduction", defs.REDUCTIONS)
@pytest.mark.parametrize("op", OPS)
def test_reduction_from_real_node_json(op, reduction):
    for text in variants(node(op, reduction=reduction)):
        assert sim().onnx_reduction(op, text) == (FOUND, reduction, "")


@pytest.mark.parametrize("op", OPS)
def test_reduction_from_the_json_atc_writes(op):
    for reduction in defs.REDUCTIONS:
        text = atc_json(node(op, reduction=reduction, other=2.5, k=3))
        written = {a["name"]: a for a in json.loads(text)["attribute"]}
        assert written["reduction"] == {"name": "reduction", "s": reduction, "type": 3}
        assert written["other"] == {"name": "other", "f": "2.5", "type": 1}
        assert sim().onnx_reduction(op, text) == (FOUND, reduction, "")
        assert sim().plugin_parse(op, text) == (1, reduction)
    assert sim().onnx_reduction(op, atc_json(node(op))) == (DEFAULTED, "mean", "")
    # ATC's bytes are C-escaped, never base64: base64 of a name is not that name
    status, _, err = sim().onnx_reduction(op, atc_json(node(op, reduction="bWVhbg==")))
    assert status == ERROR and "got 'bWVhbg=='" in err
    status, _, err = sim().onnx_reduction(op, atc_json(node(op, reduction="Sum")))
    assert status == ERROR and err == defs.MESSAGES["bad_reduction"].format(op=op, value=repr("Sum"))
    status, _, err = sim().onnx_reduction(op, atc_json(node(op, reduction=2)))
    assert status == ERROR and "got an INT attribute" in err


# Attributes of every scalar type the ops can declare (ONNX has no BOOL attribute: an INT 0 / 1),
# with the zero values Pb2Json leaves out, non-ASCII and escaped text, and lists and a tensor to skip.
TYPED = {"beta": 0.25, "gamma": 1 / 3, "tiny": 1.17549435e-38, "neg": -3e7, "fzero": 0.0, "count": -(2**40),
         "izero": 0, "flag": 1, "off": 0, "mode": "sum", "text": "a\"b\\c\n'\t é ü", "empty": ""}


@pytest.mark.parametrize("spelling", ["atc", "json_format"])
def test_typed_attribute_reads(spelling):
    from onnx import numpy_helper

    proto = node("MseLossGrad", reduction="none", floats=[1.5, 2.0], ints=[1, 2], strings=["x", "y"],
                 tensor=numpy_helper.from_array(np.arange(3, dtype=np.float32)), **TYPED)
    texts = [atc_json(proto)] if spelling == "atc" else list(variants(proto))
    s = sim()
    for text in texts:
        for name, value in TYPED.items():
            if isinstance(value, float):
                expected = np.float32(value)  # an ONNX FLOAT attribute is binary32
                if spelling == "atc":  # Pb2Json prints floats with "%g": 6 significant digits
                    expected = np.float32("%g" % expected) if len("%g" % expected) < 10 else expected
                status, got = s.onnx_attr(text, name, "float")
                assert status == 1 and np.float32(got) == expected, (name, got, expected)
            elif isinstance(value, str):  # Pb2Json's C escapes and json_format's base64 alike
                assert s.onnx_attr(text, name, "string") == (1, value), name
            else:
                assert s.onnx_attr(text, name, "int") == (1, value), name
                if value in (0, 1):
                    assert s.onnx_attr(text, name, "bool") == (1, bool(value)), name
        assert s.onnx_attr(text, "missing", "int") == (0, None)
        assert s.onnx_attr(text, "beta", "int") == (-1, "FLOAT")
        assert s.onnx_attr(text, "count", "float") == (-1, "INT")
        assert s.onnx_attr(text, "count", "bool") == (-1, "INT")  # an INT, but neither 0 nor 1
        assert s.onnx_attr(text, "mode", "bool") == (-1, "STRING")
        assert s.onnx_attr(text, "floats", "float") == (-1, "FLOATS")
        assert s.onnx_attr(text, "tensor", "string") == (-1, "TENSOR")
        assert s.onnx_reduction("MseLossGrad", text) == (FOUND, "none", "")


def test_non_finite_floats():
    s = sim()
    for value in (math.inf, -math.inf, math.nan):
        proto = node("MseLossGrad", beta=value)
        for text in [atc_json(proto)] + list(variants(proto)):
            status, got = s.onnx_attr(text, "beta", "float")
            assert status == 1 and (math.isnan(got) if math.isnan(value) else got == value), (text, got)


@pytest.mark.parametrize("op", OPS)
def test_missing_attribute_means_mean(op):
    for text in variants(node(op)):
        assert sim().onnx_reduction(op, text) == (DEFAULTED, "mean", "")
    assert sim().onnx_reduction(op, "") == (DEFAULTED, "mean", "")
    assert sim().onnx_reduction(op, '{"attribute": []}') == (DEFAULTED, "mean", "")


def test_plain_string_values_and_other_attributes():
    """A numbered type means ATC's Pb2Json (bytes as text); a named one json_format (bytes in base64)."""
    text = json.dumps({"attribute": [{"name": "other", "type": 1, "f": 2.0},
                                     {"name": "reduction", "type": 3, "s": "sum"}]})
    assert sim().onnx_reduction("L1LossGrad", text) == (FOUND, "sum", "")
    named = json.dumps({"attribute": [{"name": "reduction", "type": "STRING", "s": "c3Vt"}]})  # base64 "sum"
    assert sim().onnx_reduction("L1LossGrad", named) == (FOUND, "sum", "")
    status, _, err = sim().onnx_reduction("L1LossGrad", named.replace("c3Vt", "sum"))  # not base64
    assert status == ERROR and "unreadable value" in err


@pytest.mark.parametrize("op", OPS)
def test_unknown_value_is_an_error_naming_the_allowed_ones(op):
    status, _, err = sim().onnx_reduction(op, json_format.MessageToJson(node(op, reduction="average")))
    assert status == ERROR
    assert err == defs.MESSAGES["bad_reduction"].format(op=op, value=repr("average"))


@pytest.mark.parametrize("value,kind", [(2, "an INT"), (1.5, "a FLOAT"), ([1, 2], "an INTS"),
                                        (["sum"], "a STRINGS")])
def test_wrong_attribute_type_is_an_error(value, kind):
    s = sim()
    for text in variants(node("MseLossGrad", reduction=value)):
        status, _, err = s.onnx_reduction("MseLossGrad", text)
        assert status == ERROR
        template = defs.MESSAGES.get(
            "bad_reduction_type",
            "{op}: the reduction attribute must be a STRING (one of 'none', 'mean', 'sum'); got {kind} attribute")
        assert err == template.format(op="MseLossGrad", kind=kind)


def test_malformed_json_is_an_error():
    s = sim()
    for bad in ["{", '{"attribute": {}}', '{"attribute": [{"name": "reduction", "type": 3}]}', "[1, 2,]"]:
        status, _, err = s.onnx_reduction("MseLossGrad", bad)
        assert status == ERROR and err


def test_models_made_by_onnx_ops_reach_the_plugin():
    # ATC looks a node up by "domain::opset version::op type": every ai.lossgrad node that
    # onnx_ops writes must hit a registration of the plugin for the CANN op of the same
    # type, and the plugin must read its reduction attribute back.
    from lossgrad_ops.onnx_ops.models import Call, build_model

    s = sim()
    origins = {origin: reg["op"] for reg in s.plugin_registrations() for origin in reg["origin"]}
    calls = [Call(op, ((2, 3), (3,), ()), "float16", red) for op in OPS for red in defs.REDUCTIONS]
    model = build_model(calls)
    versions = {o.domain: o.version for o in model.opset_import}
    nodes = [n for n in model.graph.node if n.domain == defs.DOMAIN]
    assert [n.op_type for n in nodes] == [c.op for c in calls]
    for n, call in zip(nodes, calls):
        assert origins.get(f"{n.domain}::{versions[n.domain]}::{n.op_type}") == call.op
        for text in variants(n):
            assert s.onnx_reduction(n.op_type, text) == (FOUND, call.reduction, "")


# -- the declared attributes beyond the reduction (float attributes such as beta) -------------

FLOAT_ATTR_OPS = [(op, a) for op in OPS for a in defs.OPS[op].attributes if a.type == "float"]


def test_some_declared_grad_op_has_a_float_attribute():
    assert FLOAT_ATTR_OPS


def all_spellings(proto):
    return [atc_json(proto)] + list(variants(proto))


@pytest.mark.parametrize("op,attr", FLOAT_ATTR_OPS, ids=lambda v: v if isinstance(v, str) else v.name)
def test_float_attribute_present_and_absent(op, attr):
    s = sim()
    for value in (0.25, 1.0, 3.0, 0.1, 1e-3):
        for text in all_spellings(node(op, reduction="sum", **{attr.name: value})):
            status, got = s.onnx_attributes(op, text)
            assert status == 1 and got == {attr.name: float(np.float32(value))}, (text, got)
    # beta = 0.0 is a zero value Pb2Json leaves out ("f" absent): read as 0.0 (the proto3 default)
    text = atc_json(node(op, **{attr.name: 0.0}))
    assert '"f"' not in text
    assert s.onnx_attributes(op, text) == (1, {attr.name: 0.0})
    for text in all_spellings(node(op, reduction="none")) + ["", '{"attribute": []}']:
        assert s.onnx_attributes(op, text) == (0, {}), text  # absent: the OpDef default applies


@pytest.mark.parametrize("op,attr", FLOAT_ATTR_OPS, ids=lambda v: v if isinstance(v, str) else v.name)
def test_float_attribute_of_another_type_is_an_error(op, attr):
    s = sim()
    for value, kind in ((2, "an INT"), ("1.0", "a STRING"), ([1.0, 2.0], "a FLOATS"), ([1, 2], "an INTS")):
        expected = defs.MESSAGES["bad_attribute_type"].format(op=op, attr=attr.name, expected="a FLOAT", kind=kind)
        for text in all_spellings(node(op, **{attr.name: value})):
            assert s.onnx_attributes(op, text) == (-1, expected), text


@pytest.mark.parametrize("op,attr", FLOAT_ATTR_OPS, ids=lambda v: v if isinstance(v, str) else v.name)
def test_float_attribute_out_of_range_is_an_error(op, attr):
    """NaN, or below the declared minimum: the message of the attribute's own Python check."""
    s = sim()
    bad = [math.nan] + ([attr.minimum - 0.5, attr.minimum - 1e-3, -math.inf] if attr.minimum is not None else [])
    for value in bad:
        with pytest.raises(ValueError) as err:
            attr.check(float(np.float32(value)), op)
        for text in all_spellings(node(op, **{attr.name: value})):
            assert s.onnx_attributes(op, text) == (-1, str(err.value)), text
            assert s.plugin_parse(op, text)[0] == 0


@pytest.mark.parametrize("op,attr", FLOAT_ATTR_OPS, ids=lambda v: v if isinstance(v, str) else v.name)
def test_float_attribute_through_atc_keeps_six_significant_digits(op, attr):
    """CANN's Pb2Json prints floats with "%g": 6 significant digits reach the op (the documented
    limit); protobuf's json_format keeps the float exactly."""
    s = sim()
    value = 0.1234567
    proto = node(op, **{attr.name: value})
    assert s.onnx_attributes(op, atc_json(proto)) == (1, {attr.name: float(np.float32(0.123457))})
    for text in variants(proto):
        assert s.onnx_attributes(op, text) == (1, {attr.name: float(np.float32(value))})

"""The ATC parser plugin's attribute handling (framework/ascend/framework/onnx_plugin).

ATC gives an ONNX parser plugin the node's attributes as JSON: protobuf's JSON
form of the AttributeProto list, where a string attribute's bytes are base64.
The plugin's parser (lossgrad_onnx_attr.h, compiled into the simulation
library) is fed that JSON, produced here from real onnx NodeProtos with
protobuf's own json_format, in its usual variants.
"""
from __future__ import annotations

import json

import pytest
from google.protobuf import json_format
from onnx import helper

from lossgrad_ops.framework import definitions as defs
from tests.ascend_sim import OPS, sim

FOUND, DEFAULTED, ERROR = 0, 1, -1


def node(op, **attrs):
    inputs = list(defs.OPS[op].inputs)
    return helper.make_node(op, inputs, ["y"], domain=defs.DOMAIN, **attrs)


def variants(proto):
    """The JSON spellings protobuf can produce for the node."""
    yield json_format.MessageToJson(proto)
    yield json_format.MessageToJson(proto, use_integers_for_enums=True)
    yield json_format.MessageToJson(proto, preserving_proto_field_name=True, indent=None)


@pytest.mark.parametrize("reduction", defs.REDUCTIONS)
@pytest.mark.parametrize("op", OPS)
def test_reduction_from_real_node_json(op, reduction):
    for text in variants(node(op, reduction=reduction)):
        assert sim().onnx_reduction(op, text) == (FOUND, reduction, "")


@pytest.mark.parametrize("op", OPS)
def test_missing_attribute_means_mean(op):
    for text in variants(node(op)):
        assert sim().onnx_reduction(op, text) == (DEFAULTED, "mean", "")
    assert sim().onnx_reduction(op, "") == (DEFAULTED, "mean", "")
    assert sim().onnx_reduction(op, '{"attribute": []}') == (DEFAULTED, "mean", "")


def test_plain_string_values_and_other_attributes():
    text = json.dumps({"attribute": [{"name": "other", "type": 1, "f": 2.0},
                                     {"name": "reduction", "type": "STRING", "s": "sum"}]})
    assert sim().onnx_reduction("L1LossGrad", text) == (FOUND, "sum", "")


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

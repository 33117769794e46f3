"""op_host and the ATC plugin, executed on the CPU through stand-ins of CANN's APIs.

framework/ascend/op_host/lossgrad_ops.cpp (OpDef, InferShape, InferDataType,
TilingFunc) and framework/ascend/framework/onnx_plugin/lossgrad_onnx_plugin.cc are
compiled into the simulation library against small host stand-ins of CANN's
registration and context types (framework/ascend/sim/cann_stubs). That runs our
adapter code: what the OpDefs declare, what the TilingFunc writes into the
tiling data, block dim and workspace, how inference and the plugin behave. It
does not show that the real CANN headers accept the code (that needs a toolkit).
"""
from __future__ import annotations

import ctypes

import numpy as np
import pytest
from google.protobuf import json_format
from onnx import helper

from lossgrad_ops.framework import definitions as defs
from tests.ascend_sim import ALL_OPS, CORES_A2, DTYPES, LOSS_OPS, OPS, UB_A2, sim

GE_TYPES = {"float16": "DT_FLOAT16", "bfloat16": "DT_BF16", "float32": "DT_FLOAT"}


@pytest.mark.parametrize("op", ALL_OPS)
def test_opdef_declares_the_definitions(op):
    d = sim().cann_ops()[op]
    spec = defs.OPS[op]
    assert [i["name"] for i in d["inputs"]] == list(spec.inputs)
    assert [o["name"] for o in d["outputs"]] == ["y"]  # every OpDef's output (a loss op's ONNX "loss")
    for p in d["inputs"] + d["outputs"]:
        assert p["param"] == "required"
        assert p["types"] == [GE_TYPES[t] for t in defs.DTYPES if t != "float64"]
        assert p["formats"] == ["FORMAT_ND"] * 3
    # every declared attribute, optional, with its type and default (the stand-in keeps a float
    # default as "%.9g" text, an int in decimal, a bool as true/false)
    assert [a["name"] for a in d["attrs"]] == [a.name for a in spec.attributes]
    for got, a in zip(d["attrs"], spec.attributes):
        assert got["param"] == "optional" and got["type"] == a.type, got
        if a.type == "float":
            assert np.float32(float(got["default"])) == np.float32(a.default)
        elif a.type == "int":
            assert int(got["default"]) == a.default
        elif a.type == "bool":
            assert got["default"] == ("true" if a.default else "false")
        else:
            assert got["default"] == a.default
    assert d["attrs"][0] == {"name": "reduction", "param": "optional", "type": "string",
                             "default": defs.DEFAULT_REDUCTION}
    assert d["configs"] == ["ascend910b", "ascend910_93"]
    assert d["has_tiling"] and d["has_infer_shape"] and d["has_infer_dtype"]
    assert d["tiling_class"] == "LossGradTilingData"
    assert set(sim().cann_ops()) == set(ALL_OPS) == set(defs.OPS)  # every op type of the ONNX schemas


CASES = [
    [(1000,), (1000,), (1000,)],
    [(3, 4097), (3, 4097), ()],
    [(), (6, 7), (6, 7)],
    [(2, 3, 4), (4,), (3, 1)],
    [(0, 5), (5,), ()],
    [(2**32 + 77,), (2**32 + 77,), (2**32 + 77,)],
]


def tiling_and_plan(s, op, dtype, shapes, reduction):
    """The op host's tiling function (as CANN calls it) and the stand-in's plan of the same call: the
    call succeeds, the tiling data has its declared size, block count and workspace are the plan's."""
    status, size, tiling, block, ws = s.cann_tiling(op, shapes, [dtype] * len(shapes), reduction,
                                                    sys_workspace=12345)
    plan = s.plan(op, dtype, shapes, reduction, cores=CORES_A2, ub=UB_A2)
    assert status == 1 and plan.ok
    assert size == ctypes.sizeof(s.Tiling)
    assert block == plan.block_dim and ws == 12345 + plan.workspace
    return tiling, plan


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_tiling_func_writes_the_plan(op, dtype):
    s = sim()
    for shapes in CASES:
        for reduction in defs.REDUCTIONS:
            tiling, plan = tiling_and_plan(s, op, dtype, shapes, reduction)
            assert tiling == plan.tiling, "every tiling field reaches the kernel unchanged"


def test_tiling_func_defaults_and_platform():
    s = sim()
    shapes = [(5000,)] * 3
    for attrs in (True, False):  # attribute unset, or no attribute object at all: "mean"
        status, _, tiling, _, _ = s.cann_tiling("MseLossGrad", shapes, ["float32"] * 3, None, has_attrs=attrs)
        assert status == 1 and tiling["scale"] == np.float32(2 / 5000)
    status, _, tiling, block, _ = s.cann_tiling("L1LossGrad", [(10**7,)] * 3, ["float16"] * 3, "sum", cores=24,
                                                ub=64 * 1024)
    plan = s.plan("L1LossGrad", "float16", [(10**7,)] * 3, "sum", cores=24, ub=64 * 1024)
    assert status == 1 and block == 24 and tiling == plan.tiling


FLOAT_ATTRS = {op: [a for a in defs.OPS[op].attributes if a.type == "float"] for op in ALL_OPS}


@pytest.mark.parametrize("op", [op for op in OPS if FLOAT_ATTRS[op]])
def test_tiling_func_reads_the_float_attributes(op):
    """The TilingFunc reads every declared float attribute from the runtime attrs (by declared
    index) into the tiling data; an unset one takes its default; NaN or a value below the
    declared minimum fails the tiling."""
    s = sim()
    shapes = [(300,)] * 3
    for k, a in enumerate(FLOAT_ATTRS[op]):
        status, _, tiling, _, _ = s.cann_tiling(op, shapes, ["float16"] * 3, "sum")
        assert status == 1 and tiling["attrs"][k] == np.float32(a.default)
        for value in (0.0, 0.25, 3.0, 7.5e-4):
            status, _, tiling, _, _ = s.cann_tiling(op, shapes, ["float16"] * 3, "sum", attrs={a.name: value})
            plan = s.plan(op, "float16", shapes, "sum", attrs={a.name: value})
            assert status == 1 and tiling == plan.tiling and tiling["attrs"][k] == np.float32(value)
        for value in (float("nan"), -1.0, float("-inf")):
            assert s.cann_tiling(op, shapes, ["float32"] * 3, "sum", attrs={a.name: value})[0] == 0, value
        # no attribute object at all: every default
        status, _, tiling, _, _ = s.cann_tiling(op, shapes, ["float32"] * 3, None, has_attrs=False)
        assert status == 1 and tiling["attrs"][k] == np.float32(a.default)


@pytest.mark.parametrize("op", OPS)
def test_tiling_func_rejects_bad_calls(op):
    s = sim()
    shapes = [(4,)] * 3
    assert s.cann_tiling(op, shapes, ["float32"] * 3, "average")[0] == 0   # unknown reduction
    assert s.cann_tiling(op, shapes, ["float32"] * 3, "")[0] == 0
    assert s.cann_tiling(op, shapes, ["float32", "float16", "float32"], "sum")[0] == 0  # mixed dtypes
    assert s.cann_tiling(op, shapes, ["float64"] * 3, "sum")[0] == 0
    assert s.cann_tiling(op, [(2,), (3,), (4,)], ["float32"] * 3, "sum")[0] == 0
    assert s.cann_tiling(op, shapes, ["float32"] * 3, "sum", ub=4096)[0] == 0


@pytest.mark.parametrize("op", OPS)
def test_infer_shape(op):
    s = sim()
    assert s.cann_infer_shape(op, [(2, 3, 4), (4,), (3, 1)]) == (True, (2, 3, 4))
    assert s.cann_infer_shape(op, [(), (), ()]) == (True, ())
    assert s.cann_infer_shape(op, [(-1, 4), (3, 1), ()]) == (True, (3, 4))   # unknown dim fixed by another input
    assert s.cann_infer_shape(op, [(-1, 4), (1, 4), ()]) == (True, (-1, 4))
    assert s.cann_infer_shape(op, [(-2,), (3,), ()]) == (True, (-2,))         # unknown rank stays unknown
    assert s.cann_infer_shape(op, [(2,), (3,), ()]) == (False, None)
    assert s.cann_infer_shape(op, [(1,) * 9, (), ()]) == (False, None)        # rank above 8


@pytest.mark.parametrize("op", OPS)
def test_infer_dtype(op):
    s = sim()
    for dtype in DTYPES:
        assert s.cann_infer_dtype(op, [dtype] * 3) == (True, s.cann_dtype(dtype))
    assert s.cann_infer_dtype(op, ["float16", "bfloat16", "float16"]) == (False, None)


def test_plugin_registrations():
    regs = sim().plugin_registrations()
    assert [(r["op"], r["origin"]) for r in regs] == [
        (op, [f"{defs.DOMAIN}::{defs.OPSET_VERSION}::{op}"]) for op in ALL_OPS]
    assert sorted(r["op"] for r in regs) == sorted(defs.OPS)
    assert all(r["framework"] == 5 and r["tvm"] and r["has_parser"] for r in regs)  # 5: ONNX


@pytest.mark.parametrize("op", ALL_OPS)
def test_plugin_parse_sets_the_reduction(op):
    s = sim()
    for reduction in defs.REDUCTIONS:
        node = helper.make_node(op, list(defs.OPS[op].inputs), ["y"], domain=defs.DOMAIN, reduction=reduction)
        assert s.plugin_parse(op, json_format.MessageToJson(node)) == (1, reduction)
    assert s.plugin_parse(op, None) == (1, "mean")  # no attributes at all: the default
    bad = helper.make_node(op, list(defs.OPS[op].inputs), ["y"], domain=defs.DOMAIN, reduction="avg")
    assert s.plugin_parse(op, json_format.MessageToJson(bad))[0] == 0


@pytest.mark.parametrize("op", [op for op in ALL_OPS if FLOAT_ATTRS[op]])
def test_plugin_parse_sets_the_float_attributes(op):
    """A float attribute of the node reaches the CANN operator as a float; absent, it is not
    set (the OpDef default applies); of another type, negative or NaN: the parse fails."""
    s = sim()
    inputs = list(defs.OPS[op].inputs)
    for a in FLOAT_ATTRS[op]:
        for value in (0.0, 0.25, 1.0, 3.0):
            node = helper.make_node(op, inputs, ["y"], domain=defs.DOMAIN, reduction="sum", **{a.name: value})
            status, red, attrs = s.plugin_parse(op, json_format.MessageToJson(node), with_attrs=True)
            assert (status, red) == (1, "sum")
            assert attrs[a.name]["type"] == "float" and float(attrs[a.name]["value"]) == value
        node = helper.make_node(op, inputs, ["y"], domain=defs.DOMAIN, reduction="none")
        status, _, attrs = s.plugin_parse(op, json_format.MessageToJson(node), with_attrs=True)
        assert status == 1 and a.name not in attrs and attrs["reduction"]["value"] == "none"
        for bad in ("x", 2, [1.0, 2.0], -0.5, float("nan")):
            node = helper.make_node(op, inputs, ["y"], domain=defs.DOMAIN, **{a.name: bad})
            assert s.plugin_parse(op, json_format.MessageToJson(node))[0] == 0, bad


# -- the loss ops (two inputs; "mean"/"sum" reduce to one element) -------------------------

LOSS_CASES = [
    [(1000,), (1000,)],
    [(3, 4097), ()],
    [(), (6, 7)],
    [(2, 3, 4), (3, 1)],
    [(0, 5), (5,)],
    [(2**32 + 77,), (2**32 + 77,)],
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", LOSS_OPS)
def test_loss_tiling_func_writes_the_plan(op, dtype):
    s = sim()
    for shapes in LOSS_CASES:
        for reduction in defs.REDUCTIONS:
            tiling, plan = tiling_and_plan(s, op, dtype, shapes, reduction)
            # a mean of no element is NaN (the scale), which == cannot compare
            nan_safe = {k: (repr(v) if isinstance(v, float) else v) for k, v in tiling.items()}
            assert nan_safe == {k: (repr(v) if isinstance(v, float) else v) for k, v in plan.tiling.items()}
            assert tiling["reduceOutput"] == (reduction != "none")
            n = int(np.prod(np.broadcast_shapes(*shapes)))
            if reduction == "mean" and n == 0:
                assert np.isnan(tiling["scale"])
            assert plan.modes[2] == 3  # no third input: never read


@pytest.mark.parametrize("op", LOSS_OPS)
def test_loss_tiling_func_rejects_bad_calls(op):
    s = sim()
    shapes = [(4,)] * 2
    assert s.cann_tiling(op, shapes, ["float32"] * 2, "sum")[0] == 1
    assert s.cann_tiling(op, shapes, ["float32"] * 2, "average")[0] == 0
    assert s.cann_tiling(op, shapes, ["float32", "float16"], "sum")[0] == 0
    assert s.cann_tiling(op, shapes, ["float64"] * 2, "sum")[0] == 0
    assert s.cann_tiling(op, [(2,), (3,)], ["float32"] * 2, "sum")[0] == 0
    assert s.cann_tiling(op, shapes, ["float32"] * 2, "sum", ub=4096)[0] == 0


@pytest.mark.parametrize("op", LOSS_OPS)
def test_loss_infer_shape(op):
    """"none": the broadcast of the two inputs; "mean", "sum" and the unset default ("mean"): rank 0."""
    s = sim()
    assert s.cann_infer_shape(op, [(2, 3, 4), (3, 1)], "none") == (True, (2, 3, 4))
    assert s.cann_infer_shape(op, [(-1, 4), (3, 1)], "none") == (True, (3, 4))
    assert s.cann_infer_shape(op, [(-2,), (3,)], "none") == (True, (-2,))
    assert s.cann_infer_shape(op, [(2,), (3,)], "none") == (False, None)
    for reduction in ("mean", "sum", None):
        assert s.cann_infer_shape(op, [(2, 3, 4), (3, 1)], reduction) == (True, ()), reduction
        assert s.cann_infer_shape(op, [(-2,), (3,)], reduction) == (True, ()), reduction
        assert s.cann_infer_shape(op, [(2,), (3,)], reduction) == (False, None), reduction  # still checked
        assert s.cann_infer_shape(op, [(1,) * 9, ()], reduction) == (False, None), reduction


def test_grad_infer_shape_ignores_the_reduction():
    s = sim()
    for op in OPS:
        for reduction in ("mean", "sum", "none", None):
            assert s.cann_infer_shape(op, [(2, 3, 4), (4,), (3, 1)], reduction) == (True, (2, 3, 4))


@pytest.mark.parametrize("op", LOSS_OPS)
def test_loss_infer_dtype(op):
    s = sim()
    for dtype in DTYPES:
        assert s.cann_infer_dtype(op, [dtype] * 2) == (True, s.cann_dtype(dtype))
    assert s.cann_infer_dtype(op, ["float16", "bfloat16"]) == (False, None)

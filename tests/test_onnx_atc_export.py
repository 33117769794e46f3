"""Export for CANN's ATC (``onnx_ops.export(..., function_bodies=False)``): no function bodies or
overloads, an IR version and default-domain opset ATC reads, only standard ops and ai.lossgrad op types.
"""

import numpy as np
import onnx
from google.protobuf import json_format
import pytest

import mindspore as ms
from mindspore import nn

from lossgrad_ops import ms_ops, onnx_ops
from lossgrad_ops.framework.definitions import DOMAIN, OPS
from tests.helpers import stable_seed
from tests.test_onnx_export import compare_with_mindspore, mindspore_like_model


def tensors(*arrays):
    return [ms.Tensor(a) for a in arrays]


class EveryLoss(nn.Cell):
    """Every declared op through its public ms_ops function (the example's network and more)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Dense(4, 3)

    def construct(self, x, y, d):
        p = self.fc(x)
        return (ms_ops.mse_loss(p, y, "mean"), ms_ops.mse_loss_backward(d, p, y, "sum"),
                ms_ops.l1_loss(p, y), ms_ops.l1_loss_grad(d, p, y, "none"),
                ms_ops.smooth_l1_loss(p, y, "sum", 0.5), ms_ops.smooth_l1_loss_grad(p, y, d, "mean", 2.0))


def test_export_for_atc_has_no_functions_and_an_ir_atc_reads():
    rng = np.random.default_rng(stable_seed("atc"))
    arrays = [rng.standard_normal(s).astype(np.float32) for s in ((5, 4), (5, 3), (5, 3))]
    net = EveryLoss()
    model = onnx_ops.export(net, *tensors(*arrays), function_bodies=False)
    assert len(model.functions) == 0
    assert model.ir_version <= onnx_ops.ATC_MAX_IR_VERSION
    opsets = {o.domain: o.version for o in model.opset_import}
    assert opsets.get("", opsets.get("ai.onnx")) in onnx_ops.ATC_OPSETS and opsets[DOMAIN] == 1
    custom = [n for n in model.graph.node if n.domain == DOMAIN]
    assert {n.op_type for n in custom} == set(OPS) and all(not n.overload for n in custom)
    for n in model.graph.node:  # the rest is standard ONNX at the model's opset
        if n.domain != DOMAIN:
            onnx.defs.get_schema(n.op_type, opsets.get("", 11), "")
    onnx.checker.check_model(model, full_check=True)
    # it runs where the ai.lossgrad nodes have kernels (the native library), as MindSpore computes
    compare_with_mindspore(net, arrays, model, "native", rtol=1e-5, atol=1e-6)
    # the plain export keeps its bodies (a new network: MindSpore 2.10's exporter fails on a second
    # export of the same Cell instance)
    assert len(onnx_ops.export(EveryLoss(), *tensors(*arrays)).functions) == len(OPS)


def test_export_for_atc_refuses_an_opset_atc_cannot_read():
    model = mindspore_like_model()
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = 17
    with pytest.raises(onnx_ops.ExportError, match="ATC reads ONNX models of default-domain opset 11 to 15"):
        onnx_ops.rewrite_mindspore_model(model, function_bodies=False)
    onnx_ops.rewrite_mindspore_model(model)  # with bodies, any opset from 11 on


def test_the_main_example_exports_only_what_atc_and_the_op_package_map():
    """Issue 11's acceptance: the example's network (examples/train_and_export.py), exported for ATC,
    holds standard ONNX ops of the model's opset and ai.lossgrad nodes that each hit an ATC plugin
    registration ("domain::version::type", as ATC looks them up) of an op type the op_host registers
    (both read from the compiled Ascend stand-in, i.e. from the package's own sources), and the
    plugin reads every node's attributes back."""
    import importlib.util
    import os
    import sys

    from tests.ascend_sim import sim

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location("train_and_export", os.path.join(root, "examples",
                                                                                   "train_and_export.py"))
    example = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = example  # MindSpore's graph compiler imports the Cell's module by name
    spec.loader.exec_module(example)
    net = example.PredictLossGrad(example.make_net(4, 0))
    rng = np.random.default_rng(stable_seed("example-atc"))
    inputs = tensors(rng.standard_normal((8, 4)).astype(np.float32), rng.standard_normal((8, 1)).astype(np.float32))
    model = onnx_ops.export(net, *inputs, function_bodies=False)
    s = sim()
    registered = set(s.cann_ops())
    origins = {origin: reg["op"] for reg in s.plugin_registrations() for origin in reg["origin"]}
    versions = {o.domain: o.version for o in model.opset_import}
    lossgrad = [n for n in model.graph.node if n.domain == DOMAIN]
    assert lossgrad, "the example's network uses the lossgrad ops"
    for n in model.graph.node:
        if n.domain == DOMAIN:
            assert origins.get(f"{n.domain}::{versions[n.domain]}::{n.op_type}") == n.op_type
            assert n.op_type in registered
            reduction = next(a.s.decode() for a in n.attribute if a.name == "reduction")
            assert s.plugin_parse(n.op_type, json_format.MessageToJson(n)) == (1, reduction)
        else:
            onnx.defs.get_schema(n.op_type, versions.get("", 11), "")
    assert not model.functions

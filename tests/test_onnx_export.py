"""Export to ONNX: the rewrite of MindSpore's ONNX output, and real MindSpore networks using ms_ops."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

import warnings

from lossgrad_ops import onnx_ops
from lossgrad_ops.framework import reference as ref
from lossgrad_ops.framework.definitions import DOMAIN, OPS, custom_reg_name
from lossgrad_ops.onnx_ops.schemas import attribute_proto
from tests.helpers import (ONNX_PATHS, REDUCTIONS, assert_close, attribute_cases, rand, run_onnx_path, stable_seed,
                           torch_oracle)

# "native" always: a missing library fails (tests/conftest.py), it does not drop these cases.
PATHS = ["functions", "reference", "native"]


def run(model, feeds, path):
    if path == "reference":
        return onnx_ops.reference_evaluator(model).run(None, feeds)
    return onnx_ops.inference_session(model, native=path == "native").run(None, feeds)


# -- the rewrite, on models built to look like MindSpore's exporter output -------------------

def mindspore_like_model(loss_type=TP.FLOAT):
    """Gemm + two Custom nodes as MindSpore writes them: bare default-domain nodes named by reg_info."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((3, 4)).astype(np.float32), "fc.weight")
    b = numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "fc.bias")
    nodes = [
        helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["1"], transB=1),
        helper.make_node(custom_reg_name("MseLoss", "mean"), ["1", "y"], ["2-Default/loss-MSELoss/Custom-op0"],
                         name="Custom_1"),
        helper.make_node(custom_reg_name("L1LossGrad", 2), ["g", "1", "y"], ["3-Default/Custom-op1"],
                         name="Custom_2"),
    ]
    graph = helper.make_graph(
        nodes, "Default",
        [helper.make_tensor_value_info("x", TP.FLOAT, [2, 4]), helper.make_tensor_value_info("y", loss_type, [2, 3]),
         helper.make_tensor_value_info("g", TP.FLOAT, [])],
        [helper.make_tensor_value_info("2-Default/loss-MSELoss/Custom-op0", TP.FLOAT, []),
         helper.make_tensor_value_info("3-Default/Custom-op1", TP.FLOAT, [2, 3])],
        initializer=[w, b])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], ir_version=6,
                             producer_name="MindSpore")


def feeds_and_expected(model, y_dtype=np.float32):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    y = rng.standard_normal((2, 3)).astype(y_dtype)
    g = np.array(0.5, np.float32)
    inits = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in model.graph.initializer}
    h = x.astype(np.float64) @ inits["fc.weight"].T + inits["fc.bias"]
    h32 = h.astype(np.float32).astype(np.float64)  # Gemm runs in float32
    yy = y.astype(np.float64)
    expected = [ref.mse_loss(h32, yy, "mean"), ref.l1_loss_grad(np.float64(g), h32, yy, "sum")]
    return {"x": x, "y": y, "g": g}, expected


def test_rewrite_makes_lossgrad_nodes_with_their_reduction():
    original = mindspore_like_model()
    model = onnx_ops.rewrite_mindspore_model(original)
    assert original.graph.node[1].domain == "", "the input model must not change"
    lossgrad = [n for n in model.graph.node if n.domain == DOMAIN]
    assert [(n.op_type, helper.get_attribute_value(n.attribute[0])) for n in lossgrad] == [
        ("MseLoss", b"mean"), ("L1LossGrad", b"sum")]
    assert [n.overload for n in lossgrad] == ["mean_float32", "sum_float32"]
    assert onnx_ops.functions_for(model) == {("MseLoss", "mean_float32"), ("L1LossGrad", "sum_float32")}
    assert {(o.domain, o.version) for o in model.opset_import} == {("", 11), (DOMAIN, 1)}
    onnx.checker.check_model(model, full_check=True)


@pytest.mark.parametrize("path", PATHS)
def test_rewritten_model_runs_and_matches_the_reference(path):
    model = onnx_ops.rewrite_mindspore_model(mindspore_like_model())
    feeds, expected = feeds_and_expected(model)
    outputs = run(model, feeds, path)
    assert_close(outputs[0], expected[0], np.float32, reduction_terms=64)
    assert_close(outputs[1], expected[1], np.float32, eps_factor=64)  # Gemm's float32 rounding feeds in


@pytest.mark.parametrize("path", PATHS)
def test_mixed_input_types_get_casts_to_the_promoted_type(path):
    model = onnx_ops.rewrite_mindspore_model(mindspore_like_model(loss_type=TP.FLOAT16))
    casts = [n for n in model.graph.node if n.op_type == "Cast"]
    assert casts and all(helper.get_attribute_value(n.attribute[0]) == TP.FLOAT for n in casts)
    assert all(n.overload.endswith("_float32") for n in model.graph.node if n.domain == DOMAIN)
    feeds, expected = feeds_and_expected(model, y_dtype=np.float16)
    outputs = run(model, feeds, path)
    assert_close(outputs[0], expected[0], np.float32, reduction_terms=64)


def registration_model(cases, dtype=TP.DOUBLE):
    """One bare default-domain node per (op, reduction, attribute case), named by ``custom_reg_name``
    as MindSpore's exporter writes ms_ops primitives; node i reads x{i}_0, x{i}_1, ... and writes y{i}."""
    nodes, inputs, outputs = [], [], []
    for i, (op, reduction, attrs) in enumerate(cases):
        names = [f"x{i}_{k}" for k in range(len(OPS[op].inputs))]
        nodes.append(helper.make_node(custom_reg_name(op, reduction, **dict(attrs)), names, [f"y{i}"],
                                      name=f"Custom_{i}"))
        inputs += [helper.make_tensor_value_info(n, dtype, [2, 3]) for n in names]
        outputs.append(helper.make_tensor_value_info(f"y{i}", dtype, None))
    graph = helper.make_graph(nodes, "Default", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], ir_version=6,
                             producer_name="MindSpore")


def _every_registration():
    return [(op, red, attrs) for op in OPS for attrs in attribute_cases(op) for red in REDUCTIONS]


@pytest.mark.parametrize("path", ONNX_PATHS)
def test_rewrite_restores_every_declared_attribute(path):
    """Every op, with every attribute case, named by its registration: the rewritten node carries every
    declared attribute (defaults included) and runs it, in float64 within a few ulps of PyTorch."""
    cases = _every_registration()
    model = onnx_ops.rewrite_mindspore_model(registration_model(cases))
    nodes = [n for n in model.graph.node if n.domain == DOMAIN]
    assert len(nodes) == len(cases)
    rng = np.random.default_rng(stable_seed("rewrite", path))
    feeds, expected = {}, []
    for i, ((op, red, attrs), node) in enumerate(zip(cases, nodes)):
        values = OPS[op].attribute_values(red, **dict(attrs))
        assert node.op_type == op
        assert {a.name: helper.get_attribute_value(a) for a in node.attribute} == {
            a.name: helper.get_attribute_value(attribute_proto(a, values[a.name])) for a in OPS[op].attributes}
        assert node.overload == onnx_ops.overload_name(red, "float64", op, **dict(attrs))
        arrays = [rng.uniform(-2, 2, (2, 3)) for _ in OPS[op].inputs]
        feeds.update({f"x{i}_{k}": a for k, a in enumerate(arrays)})
        expected.append(torch_oracle(op, arrays, red, **dict(attrs)))
    outputs = run_onnx_path(path, model, feeds)
    for (op, red, attrs), out, exp in zip(cases, outputs, expected):
        try:
            assert_close(out, exp, np.float64, reduction_terms=6 if OPS[op].is_loss and red != "none" else 1)
        except AssertionError as exc:
            raise AssertionError(f"{op} {red} {attrs}: {exc}") from None


def _float_attributes():
    return [pytest.param(op, a, id=f"{op}-{a.name}") for op in OPS for a in OPS[op].attributes if a.type == "float"]


@pytest.mark.parametrize("op, declared", _float_attributes())
def test_a_float_attribute_that_is_no_float32_is_exported_as_the_nearest_float32(op, declared):
    """ONNX FLOAT attributes are 32-bit. The registration name carries 0.1 exactly (float64); the node
    carries float32(0.1) = 0.10000000149011612, the rewrite warns, and every ONNX path computes with
    float32(0.1): its results are those of PyTorch in float64 with that value, not with 0.1 (the
    inputs put one difference between the two values, where a threshold would take different branches)."""
    exact = 0.1
    near = float(np.float32(exact))
    assert near != exact
    with pytest.warns(onnx_ops.ExportPrecisionWarning, match=rf"{declared.name} value 0\.1 .*{near!r}"):
        model = onnx_ops.rewrite_mindspore_model(
            registration_model([(op, "none", ((declared.name, exact),))]))
    (node,) = [n for n in model.graph.node if n.domain == DOMAIN]
    (attr,) = [a for a in node.attribute if a.name == declared.name]
    assert attr.type == onnx.AttributeProto.FLOAT and float(np.float32(attr.f)) == near
    assert custom_reg_name(op, "none", **{declared.name: exact}) in node.doc_string  # the exact value stays on record
    rng = np.random.default_rng(5)
    arrays = [rng.uniform(-2, 2, (2, 3)) for _ in OPS[op].inputs]
    arrays[0][0, 0] = arrays[1][0, 0] + (exact + near) / 2  # predict - label between the two values
    feeds = {f"x0_{k}": a for k, a in enumerate(arrays)}
    with_near = torch_oracle(op, arrays, "none", **{declared.name: near})
    with_exact = torch_oracle(op, arrays, "none", **{declared.name: exact})
    assert not np.allclose(with_near, with_exact, rtol=1e-12, atol=0), "the inputs must tell the two values apart"
    for path in ONNX_PATHS:
        (out,) = run_onnx_path(path, model, feeds)
        assert_close(out, with_near, np.float64)


def test_a_float32_attribute_value_is_exported_exactly_and_silently():
    cases = [c for c in _every_registration() if c[2]]  # the sample values are float32 values
    assert cases
    with warnings.catch_warnings():
        warnings.simplefilter("error", onnx_ops.ExportPrecisionWarning)
        onnx_ops.rewrite_mindspore_model(registration_model(cases))


@pytest.mark.parametrize("name", ["MyCustomOp", "MseLoss_max", "mseloss_mean"])
def test_unknown_custom_op_types_are_named_in_the_error(name):
    model = mindspore_like_model()
    model.graph.node[1].op_type = name
    with pytest.raises(onnx_ops.ExportError, match=f"'{name}'"):
        onnx_ops.rewrite_mindspore_model(model)


# -- real MindSpore networks ------------------------------------------------------------------

import mindspore as ms  # noqa: E402  (a dependency of the package: never skipped)
from mindspore import nn, ops  # noqa: E402

from lossgrad_ops import ms_ops  # noqa: E402


class DenseMse(nn.Cell):
    def __init__(self, reduction="mean"):
        super().__init__()
        self.fc = nn.Dense(4, 3)
        self.loss = ms_ops.MSELoss(reduction=reduction)

    def construct(self, x, y):
        return self.loss(self.fc(x), y)


class GradOps(nn.Cell):
    """The grad ops in a forward graph, inputs of mixed dtypes."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Dense(4, 3)

    def construct(self, x, y, d):
        h = self.fc(x)
        return (ms_ops.mse_loss_grad(h, y, d, reduction="sum"), ms_ops.l1_loss_grad(d, h, y, reduction="none"),
                ms_ops.l1_loss(h, y, reduction="mean"))


def tensors(*arrays):
    return [ms.Tensor(a) for a in arrays]


def compare_with_mindspore(net, arrays, model, path, **tolerance):
    expected = net(*tensors(*arrays))
    expected = expected if isinstance(expected, tuple) else (expected,)
    names = [i.name for i in model.graph.input if i.name not in {x.name for x in model.graph.initializer}]
    outputs = run(model, dict(zip(names, arrays)), path)
    assert len(outputs) == len(expected)
    for out, exp in zip(outputs, expected):
        exp = exp.asnumpy()
        assert out.dtype == exp.dtype and out.shape == exp.shape
        np.testing.assert_allclose(out, exp, **tolerance)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_exported_network_matches_mindspore(path, reduction):
    rng = np.random.default_rng(2)
    net = DenseMse(reduction)
    arrays = [rng.standard_normal((5, 4)).astype(np.float32), rng.standard_normal((5, 3)).astype(np.float32)]
    model = onnx_ops.export(net, *tensors(*arrays))
    (node,) = [n for n in model.graph.node if n.domain == DOMAIN]
    assert node.op_type == "MseLoss" and helper.get_attribute_value(node.attribute[0]) == reduction.encode()
    onnx.checker.check_model(model, full_check=True)
    compare_with_mindspore(net, arrays, model, path, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("path", PATHS)
def test_exported_grad_ops_with_mixed_dtypes_match_mindspore(path):
    rng = np.random.default_rng(3)
    net = GradOps()
    arrays = [rng.standard_normal((2, 4)).astype(np.float32), rng.standard_normal((3,)).astype(np.float16),
              np.array(0.5, np.float16)]
    model = onnx_ops.export(net, *tensors(*arrays))
    assert sorted(n.op_type for n in model.graph.node if n.domain == DOMAIN) == ["L1Loss", "L1LossGrad",
                                                                                "MseLossGrad"]
    compare_with_mindspore(net, arrays, model, path, rtol=1e-5, atol=1e-6)


def test_export_with_dynamic_axes_and_file(tmp_path):
    net = DenseMse("none")
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal((5, 4)).astype(np.float32), rng.standard_normal((5, 3)).astype(np.float32)]
    model = onnx_ops.export(net, *tensors(*arrays), file_name=str(tmp_path / "net"), input_names=["x", "y"],
                            dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    saved = onnx.load(str(tmp_path / "net.onnx"))
    assert saved.SerializeToString() == model.SerializeToString()
    dims = model.graph.output[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 3
    for batch in (1, 7):
        other = [rng.standard_normal((batch, 4)).astype(np.float32), rng.standard_normal((batch, 3)).astype(np.float32)]
        compare_with_mindspore(net, other, model, PATHS[-1], rtol=1e-5, atol=1e-6)


def test_custom_op_without_reg_info_is_named_in_the_error():
    class WithPyfunc(nn.Cell):
        def __init__(self):
            super().__init__()
            self.twice = ops.Custom(lambda a: a * 2, out_shape=lambda a: a, out_dtype=lambda a: a,
                                    func_type="pyfunc")

        def construct(self, x, y):
            return ms_ops.mse_loss(self.twice(x), y)

    x = ms.Tensor(np.ones((2, 3), np.float32))
    with pytest.raises(onnx_ops.ExportError, match=r"without reg_info: Custom 'twice' \(func_type pyfunc"):
        onnx_ops.export(WithPyfunc(), x, x)


# -- real MindSpore networks with the ops' other declared attributes ---------------------------------

from lossgrad_ops.ms_ops import primitives  # noqa: E402


class Calls(nn.Cell):
    """One ms_ops primitive per (op, canonical attribute values): primitives.call, the generic entry
    every ms_ops function goes through."""

    def __init__(self, cases):
        super().__init__()
        self.cases = tuple((op, tuple(OPS[op].attribute_values(red, **dict(attrs)).items()))
                           for op, red, attrs in cases)
        self.arity = tuple(len(OPS[op].inputs) for op, _, _ in cases)

    def construct(self, *xs):
        out = []
        k = 0
        for (op, attrs), n in zip(self.cases, self.arity):
            out.append(primitives.call(op, attrs, *xs[k:k + n]))
            k += n
        return tuple(out)


def _attribute_registrations():
    """(op, reduction, attribute case) for the ops that declare attributes besides reduction."""
    return [c for c in _every_registration() if len(OPS[c[0]].attributes) > 1]


@pytest.mark.parametrize("path", ONNX_PATHS)
def test_exported_network_with_attributes_matches_mindspore(path):
    cases = _attribute_registrations()
    assert cases, "the declared ops include ops with attributes besides reduction (SmoothL1)"
    net = Calls(cases)
    rng = np.random.default_rng(stable_seed("ms-export", path))
    arrays = [rng.uniform(-2, 2, (2, 3)) for op, _, _ in cases for _ in OPS[op].inputs]
    model = onnx_ops.export(net, *tensors(*arrays))
    nodes = [n for n in model.graph.node if n.domain == DOMAIN]
    assert [n.op_type for n in nodes] == [op for op, _, _ in cases]
    for node, (op, red, attrs) in zip(nodes, cases):
        assert node.overload == onnx_ops.overload_name(red, "float64", op, **dict(attrs))
    expected = net(*tensors(*arrays))
    names = [i.name for i in model.graph.input]
    outputs = run_onnx_path(path, model, dict(zip(names, arrays)))
    assert len(outputs) == len(expected) == len(cases)
    for (op, red, attrs), out, exp in zip(cases, outputs, expected):
        assert_close(out, exp.asnumpy().astype(np.float64), np.float64,
                     reduction_terms=6 if OPS[op].is_loss and red != "none" else 1)


def test_exported_network_with_a_float_attribute_that_is_no_float32():
    """What runs: the exported model computes with the nearest float32 of the registration's value
    (0.1), the ONNX attribute, on every path: its results are PyTorch's in float64 with that value.
    The MindSpore network, which computes with the exact 0.1, agrees to within what the two values
    can change (a relative 1.5e-8)."""
    floats = [(op, a.name) for op in OPS for a in OPS[op].attributes if a.type == "float"]
    assert floats, "the declared ops include float attributes (SmoothL1's beta)"
    cases = [(op, "sum", ((name, 0.1),)) for op, name in floats]
    net = Calls(cases)
    rng = np.random.default_rng(17)
    arrays = [rng.uniform(-0.3, 0.3, (2, 3)) for op, _, _ in cases for _ in OPS[op].inputs]
    with pytest.warns(onnx_ops.ExportPrecisionWarning):
        model = onnx_ops.export(net, *tensors(*arrays))
    expected = net(*tensors(*arrays))
    feeds = dict(zip([i.name for i in model.graph.input], arrays))
    for path in ONNX_PATHS:
        outputs = run_onnx_path(path, model, feeds)
        k = 0
        for (op, red, attrs), out, exp in zip(cases, outputs, expected):
            xs = arrays[k:k + len(OPS[op].inputs)]
            k += len(xs)
            (name, value), = attrs
            near = float(np.float32(value))
            with_near = torch_oracle(op, xs, red, **{name: near})
            assert_close(out, with_near, np.float64, reduction_terms=6)
            assert not np.allclose(with_near, torch_oracle(op, xs, red, **{name: value}), rtol=1e-12, atol=0)
            np.testing.assert_allclose(out, exp.asnumpy(), rtol=1e-7, atol=0)


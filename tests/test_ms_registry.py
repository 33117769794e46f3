"""The MindSpore registration data (reg_info), generated from framework/definitions.py,
checked against docs/SPEC.md and the CANN seeds' op specifications written out here by hand.
No NPU is needed: this is the data MindSpore hands to the Ascend kernel selector."""
from __future__ import annotations

import itertools

import pytest

from lossgrad_ops.framework.definitions import L1_LOSS, L1_LOSS_GRAD, MSE_LOSS, MSE_LOSS_GRAD, OPS, custom_reg_name
from lossgrad_ops.ms_ops import _device, _registry

# From docs/SPEC.md / seeds 000-004: op type, inputs in order, output, dtypes on the NPU.
CANN_SPEC = {
    "MseLossGrad": (("predict", "label", "dout"), "y"),   # seeds 000, 001, 002/003
    "L1LossGrad": (("grads", "predict", "label"), "y"),   # seed 004: incoming gradient first
}
NPU_DTYPES = {"float16", "float32", "bfloat16"}  # fp16/fp32 (000, 001) + bf16 (002-004)
ALL_DTYPES = {"float16", "bfloat16", "float32", "float64"}


def names(entries):
    return tuple(e["name"] for e in sorted(entries, key=lambda e: e["index"]))


@pytest.mark.parametrize("op", [MSE_LOSS_GRAD, L1_LOSS_GRAD])
def test_ascend_reg_info_matches_cann_op_specification(op):
    info = _registry.ascend_reg_info(op)
    inputs, output = CANN_SPEC[op.name]
    assert info["op_name"] == op.name  # the CANN op type itself: binds 1:1 to the NPU kernel
    assert info["target"] == "Ascend"
    assert names(info["inputs"]) == inputs and names(info["outputs"]) == (output,)
    assert info["attr"] == [{"name": "reduction", "paramType": "required", "type": "str", "value": "mean"}]
    combos = [tuple(d for d, fmt in row) for row in info["dtype_format"]]
    assert all(fmt == "DefaultFormat" for row in info["dtype_format"] for _, fmt in row)  # ND
    assert {c[0] for c in combos} == NPU_DTYPES
    assert all(len(set(c)) == 1 and len(c) == len(inputs) + 1 for c in combos)  # equal dtypes in and out


@pytest.mark.parametrize("op", list(OPS.values()), ids=list(OPS))
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cpu_reg_info_covers_every_dtype_combination(op, reduction):
    info = _registry.cpu_reg_info(op, reduction)
    assert info["op_name"] == custom_reg_name(op.name, reduction)
    assert info["op_name"].startswith(f"{op.name}_{reduction}")
    assert info["target"] == "CPU"
    assert names(info["inputs"]) == op.inputs
    assert info["attr"][0]["name"] == "reduction" and info["attr"][0]["value"] == reduction
    combos = {tuple(d for d, _ in row) for row in info["dtype_format"]}
    expected = set()
    for ins in itertools.product(sorted(ALL_DTYPES), repeat=len(op.inputs)):
        ranks = {"float16": 0, "bfloat16": 0, "float32": 1, "float64": 2}
        top = max(ranks[d] for d in ins)
        widest = {d for d in ins if ranks[d] == top}
        out = widest.pop() if len(widest) == 1 else "float32"  # float16 with bfloat16 -> float32
        expected.add((*ins, out))
    assert combos == expected


def test_spec_input_names_for_the_losses():
    assert MSE_LOSS.inputs == L1_LOSS.inputs == ("predict", "label")
    assert MSE_LOSS.output == L1_LOSS.output == "loss"


def test_device_choice_is_in_one_place(monkeypatch):
    import mindspore as ms
    assert _device.device_target() == ms.get_context("device_target") == "CPU"
    # the target is read where ms.get_context reads it (without its per-call checks): one reader to stand in for
    monkeypatch.setattr(_device, "_context_target", lambda: "GPU")
    with pytest.raises(RuntimeError, match="no kernels for device_target='GPU'"):
        _device.device_target()


@pytest.mark.parametrize("mode", [0, 1], ids=["graph", "pynative"])
def test_ascend_input_promotion_logic_on_cpu(mode):
    """On Ascend every primitive sits behind primitives.promoting: a CANN kernel takes one dtype,
    so mixed inputs (a float32 cotangent beside float16 inputs in a bprop) are cast to the promoted
    dtype first. The same wrapper around the CPU primitives, in both modes, for every op: the values
    are the float64 reference's at the promoted dtype, and each gradient comes back in its input's
    dtype (the casts are differentiated)."""
    import mindspore as ms
    import numpy as np
    from mindspore import Tensor, ops
    from lossgrad_ops.framework import reference as ref
    from lossgrad_ops.ms_ops import primitives
    from tests.helpers import assert_close, ms_mode
    with ms_mode(mode):
        rng = np.random.default_rng(0)
        kinds = (np.float16, np.float32, np.float16)
        for op in OPS.values():
            attrs = tuple(op.attribute_values("sum").items())
            wrapped = primitives.promoting(primitives.make_primitive(op.name, attrs, "CPU"), len(op.inputs))
            xs = [rng.uniform(0.5, 2.0, s).astype(k) for s, k in zip(((3, 4), (4,), (3, 1)), kinds)]
            xs = xs[:len(op.inputs)]
            out = wrapped(*[Tensor(x) for x in xs])
            assert out.dtype == ms.float32
            assert_close(out.asnumpy(), ref.run(op.name, *[x.astype(np.float64) for x in xs], reduction="sum"),
                         np.float32, reduction_terms=16)
            gs = ops.GradOperation(get_all=True)(wrapped)(*[Tensor(x) for x in xs])
            assert [g.dtype for g in gs] == [ms.float16 if x.dtype == np.float16 else ms.float32 for x in xs]
            assert all(g.shape == x.shape for g, x in zip(gs, xs))
            # the values: the gradients at the promoted inputs, each rounded once to its input's dtype
            plain = primitives.promoting(primitives.make_primitive(op.name, attrs, "CPU"), len(op.inputs))
            at32 = ops.GradOperation(get_all=True)(plain)(*[Tensor(x.astype(np.float32)) for x in xs])
            for g, e, x in zip(gs, at32, xs):
                np.testing.assert_array_equal(g.asnumpy(), e.asnumpy().astype(x.dtype))


def test_ascend_package_discovery(tmp_path):
    def make_pkg(root):
        cfg = root / "op_impl" / "ai_core" / "tbe" / "config" / "ascend910b"
        cfg.mkdir(parents=True)
        (cfg / "aic-ascend910b-ops-info.json").write_text("{}")
        return str(root)

    with pytest.raises(RuntimeError, match="not installed: build it with framework/ascend/build.sh"):
        _device.find_ascend_package({})
    custom = make_pkg(tmp_path / "custom" / "vendors" / "lossgrad")
    assert _device.find_ascend_package({"ASCEND_CUSTOM_OPP_PATH": f"/nonexistent:{custom}"}) == custom
    opp = tmp_path / "opp"
    vendored = make_pkg(opp / "vendors" / "lossgrad")
    assert _device.find_ascend_package({"ASCEND_OPP_PATH": str(opp)}) == vendored
    other = make_pkg(tmp_path / "other" / "vendors" / "someone_else")  # another vendor's package
    with pytest.raises(RuntimeError):
        _device.find_ascend_package({"ASCEND_CUSTOM_OPP_PATH": other})

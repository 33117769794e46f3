"""The Ascend op package's definitions match framework/definitions.py.

The compiled op table (framework/ascend/op_host/lossgrad_defs.h, which op_host's
OpDef, InferShape and tiling, the kernel entries and the ONNX plugin use) is read
back from the simulation library and compared with the Python definitions; the
files that CANN's tools read (OpDef source, kernel entry signatures, msOpGen
JSON, ONNX plugin registration, CMake and presets) are checked against it too.
The library also static_asserts the table against the generated C++ view of
definitions.py at build time.
"""
from __future__ import annotations

import json
import pathlib
import re

import numpy as np
import pytest

from lossgrad_ops.framework import definitions as defs
from tests.ascend_sim import sim

ROOT = pathlib.Path(__file__).resolve().parents[1] / "framework" / "ascend"
GRAD_OPS = [op for op in defs.OPS.values() if op.kind == "grad"]


def snake_case(op_type: str) -> str:
    """CANN's op type -> kernel entry / file name rule (naming conversion table)."""
    out = []
    for i, c in enumerate(op_type):
        prev = op_type[i - 1] if i else ""
        nxt = op_type[i + 1] if i + 1 < len(op_type) else ""
        if c.isupper():
            if i and (not prev.isupper() or (nxt and nxt.islower())):
                out.append("_")
            out.append(c.lower())
        else:
            out.append(c)
    return "".join(out)


def test_snake_case_rule():
    assert snake_case("AddCustom") == "add_custom"
    assert snake_case("Conv2DCustom") == "conv2_d_custom"
    assert snake_case("GRUCell") == "gru_cell"
    assert snake_case("L1LossGrad") == "l1_loss_grad"


def test_op_table_matches_definitions():
    d = sim().defs()
    assert d["op_types"] == [op.name for op in GRAD_OPS] == ["MseLossGrad", "L1LossGrad"]
    assert d["inputs"] == [list(op.inputs) for op in GRAD_OPS]
    assert d["output"] == GRAD_OPS[0].output == GRAD_OPS[1].output == "y"
    assert d["scale_numerators"] == [op.scale_numerator for op in GRAD_OPS]
    assert d["attr"] == "reduction" and d["default_reduction"] == defs.DEFAULT_REDUCTION
    assert d["reductions"] == list(defs.REDUCTIONS)
    assert d["dtypes"] == [t for t in defs.DTYPES if t != "float64"]
    assert d["max_rank"] == defs.MAX_RANK
    assert d["onnx_domain"] == defs.DOMAIN and d["onnx_opset"] == defs.OPSET_VERSION
    for key in ("bad_reduction", "bad_rank", "not_broadcastable", "unknown_op"):
        assert d["messages"][key] == defs.MESSAGES[key], key
    assert d["messages"]["bad_reduction_type"] == defs.MESSAGES["bad_reduction_type"]  # ONNX attribute type
    assert d["kernel_names"] == [snake_case(op.name) for op in GRAD_OPS]


# Each input's role in y = m * f(predict - label) * s, on the kernel itself: explicit values where
# a swapped role changes the result, with every input in turn a scalar (the kernel's Adds/Muls
# paths) or broadcast along an axis (its workspace path); the kernel's modes are checked too.
ROLE_VALUES = {"predict": [3.0, 0.5, 1.0, -2.0], "label": [1.0, 2.0, 1.0, 0.25],
               "dout": [5.0, -2.0, 3.0, 0.5], "grads": [5.0, -2.0, 3.0, 0.5]}


def expected_by_formula(op, values, reduction):
    p, l = np.float64(values["predict"]), np.float64(values["label"])
    m = np.float64(values["dout" if op == "MseLossGrad" else "grads"])
    f = 2.0 * (p - l) if op == "MseLossGrad" else np.sign(p - l)
    y = m * f
    return y / y.size if reduction == "mean" else y


@pytest.mark.parametrize("layout", ["full", "scalar", "broadcast"])
@pytest.mark.parametrize("op", GRAD_OPS, ids=lambda o: o.name)
def test_formula_roles_on_the_kernel(op, layout):
    for special in op.inputs if layout != "full" else [None]:
        values = {}
        for name in op.inputs:
            v = np.array(ROLE_VALUES[name], np.float32)
            if name == special:
                v = np.float32(v[0]) if layout == "scalar" else v  # (4,) against (3, 4): broadcast rows
            values[name] = np.broadcast_to(v, (3, 4)) if layout == "broadcast" and name != special else v
        arrays = [np.asarray(values[name], np.float32) for name in op.inputs]
        for reduction in defs.REDUCTIONS:
            out, rep = sim().run(op.name, arrays, reduction, cores=2)
            assert rep.status == 0, rep.message
            mode = {"full": 0, "scalar": 1, "broadcast": 2}[layout]
            assert [m for k, m in enumerate(rep.modes) if op.inputs[k] == special] == ([mode] if special else [])
            full = {k: np.broadcast_to(np.asarray(v, np.float64), np.broadcast_shapes(*[a.shape for a in arrays]))
                    for k, v in values.items()}
            np.testing.assert_allclose(out.astype(np.float64), expected_by_formula(op.name, full, reduction),
                                       rtol=1e-6, err_msg=f"{op.name} {layout} {special} {reduction}")


@pytest.mark.parametrize("op", GRAD_OPS, ids=lambda o: o.name)
def test_kernel_entry_signature(op):
    name = snake_case(op.name)
    src = (ROOT / "op_kernel" / f"{name}.cpp").read_text()
    m = re.search(r'extern "C" __global__ __aicore__ void (\w+)\(([^)]*)\)', src)
    assert m and m.group(1) == name
    params = [p.strip().split()[-1] for p in m.group(2).split(",")]
    # inputs in OpDef order, the output, then workspace and tiling (CANN's launch order)
    assert params == [*op.inputs, op.output, "workspace", "tiling"]
    assert "DTYPE_Y" in src  # the output's dtype macro (from the output name "y")
    # the kernel instantiated with the family (op_kernel/families/*.h) that declares this op type
    family = re.search(r"lossgrad_kernel::LossGradKernel<DTYPE_Y, lossgrad_kernel::(\w+)>", src)
    declared = {m.group(1): m.group(2) for h in (ROOT / "op_kernel" / "families").glob("*.h")
                for m in re.finditer(r'struct (\w+) \{\s*static constexpr const char\* kOpType = "(\w+)";',
                                     h.read_text())}
    assert family and declared.get(family.group(1)) == op.name, (family, declared)


def test_msopgen_json_matches_definitions():
    ops = json.loads((ROOT / "lossgrad_ops.json").read_text())
    assert [o["op"] for o in ops] == [op.name for op in GRAD_OPS]
    for spec, op in zip(ops, GRAD_OPS):
        assert [i["name"] for i in spec["input_desc"]] == list(op.inputs)
        assert [o["name"] for o in spec["output_desc"]] == [op.output]
        for desc in spec["input_desc"] + spec["output_desc"]:
            assert desc["param_type"] == "required"
            assert desc["type"] == ["float16", "bfloat16", "float"] and desc["format"] == ["ND"] * 3
        assert spec["attr"] == [{"name": "reduction", "param_type": "optional", "type": "string",
                                 "default_value": defs.DEFAULT_REDUCTION}]


def test_onnx_plugin_registration():
    # The plugin registers every op of the table in a loop (what REGISTER_CUSTOM_OP expands to,
    # per op), so the registrations are read from the compiled plugin.
    regs = [(r["op"], origin) for r in sim().plugin_registrations() for origin in r["origin"]]
    assert regs == [(op.name, f"{defs.DOMAIN}::{defs.OPSET_VERSION}::{op.name}") for op in GRAD_OPS]


def test_vendor_name_everywhere():
    vendor = sim().defs()["vendor"]
    assert vendor == "lossgrad"
    presets = json.loads((ROOT / "CMakePresets.json").read_text())
    assert presets["configurePresets"][0]["cacheVariables"]["vendor_name"]["value"] == vendor
    assert f"set(vendor_name {vendor})" in (ROOT / "CMakeLists.txt").read_text()
    assert f'VENDOR="{vendor}"' in (ROOT / "build.sh").read_text()
    kernels = (ROOT / "op_kernel" / "CMakeLists.txt").read_text()
    for op in GRAD_OPS:
        assert f"OP_TYPE {op.name}\n  KERNEL_FILE {snake_case(op.name)}.cpp" in kernels

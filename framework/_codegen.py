"""Generate the C++ view of :mod:`framework.definitions` (run by CMakeLists.txt at build time).

Two headers, both build outputs (CMake writes them to ``<build>/generated/lossgrad/``; the
default directory ``framework/csrc/lossgrad/`` git-ignores them):

* ``generated_defs.h``: the op names, input names, arities, scale numerators, dtype and
  reduction names and the error-message templates of the native kernels, and the X-macro
  ``LOSSGRAD_FOR_EACH_OP(X)`` that every generic C++ face iterates over (it calls
  ``X(Name, native_id, arity, is_loss)`` once per declared op), so the Python and native
  sides cannot drift and no generic C++ file names an op;
  The declared attributes of each op (``reduction`` first) are the tables ``kOpNumAttrs``,
  ``kOpAttrNames``, ``kOpAttrTypes`` (an ``AttrType``) and ``kOpAttrDefaults`` (an
  ``AttrValue``: a string as the index of its value among the reductions when it is
  ``reduction``, an int or bool in ``i``, a float in ``f``); the native faces read every
  declared attribute through them, generically;
* ``generated_families.h``: includes every C++ family header ``framework/csrc/families/*.h``
  (each defines the elementwise functor ``lossgrad::ops::<Name>`` of its ops); the CPU core
  checks at compile time that every declared op has its functor.

Usage: ``python framework/_codegen.py OUT_PATH`` (the path of ``generated_defs.h``; the
families header is written next to it) or :func:`write_header`.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
from types import ModuleType

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "csrc", "lossgrad", "generated_defs.h")
FAMILIES_DIR = os.path.join(HERE, "csrc", "families")
FAMILIES_HEADER = "generated_families.h"


def load_definitions() -> ModuleType:
    """Load definitions.py alone (no package import, hence no NumPy needed)."""
    spec = importlib.util.spec_from_file_location("_lossgrad_definitions", os.path.join(HERE, "definitions.py"))
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses needs the module registered
    spec.loader.exec_module(module)
    return module


def _c(s: str) -> str:
    return json.dumps(s)  # a JSON string literal is a valid C string literal for ASCII text


_ATTR_TYPES = ("string", "int", "float", "bool")  # framework.rules.ATTRIBUTE_TYPES, in AttrType order


def _attr_default(attr, reductions) -> str:
    """The C++ ``AttrValue`` initializer of an attribute's default value."""
    if attr.type == "string":
        if attr.name != "reduction":
            raise ValueError(f"attribute {attr.name!r}: the native faces take a string attribute only as "
                             "an index into a declared value list, which only 'reduction' has")
        return f"{{{reductions.index(attr.default)}, 0.0}}"
    if attr.type == "float":
        value = float(attr.default)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"attribute {attr.name!r}: the native faces need a finite default; got {value!r}")
        return f"{{0, {value.hex()}}}"  # a C++17 hex literal: exact
    return f"{{{int(attr.default)}, 0.0}}"  # int, bool


def render_attributes(ops, reductions) -> list:
    """The per-op attribute tables of generated_defs.h (lines, inside namespace lossgrad::gen)."""
    maxattrs = max(len(op.attributes) for op in ops)
    for op in ops:
        for a in op.attributes:
            if a.type not in _ATTR_TYPES:
                raise ValueError(f"{op.name}: attribute {a.name!r} has the type {a.type!r}, not one of {_ATTR_TYPES}")
            if not a.name.isidentifier():
                raise ValueError(f"{op.name}: attribute name {a.name!r} is not a C++ identifier")
    lines = [
        "enum AttrType : int { " + ", ".join(f"kAttr{t.capitalize()} = {i}" for i, t in enumerate(_ATTR_TYPES)) + " };",
        "struct AttrValue { int64_t i; double f; };",
        f"constexpr int kMaxAttrs = {maxattrs};",
        "constexpr int kOpNumAttrs[kNumOps] = {" + ", ".join(str(len(op.attributes)) for op in ops) + "};",
        "constexpr const char* kOpAttrNames[kNumOps][kMaxAttrs] = {",
    ]
    pad = lambda xs, fill: xs + [fill] * (maxattrs - len(xs))  # noqa: E731
    for op in ops:
        lines.append("  {" + ", ".join(pad([_c(a.name) for a in op.attributes], "nullptr")) + "},")
    lines += ["};", "constexpr AttrType kOpAttrTypes[kNumOps][kMaxAttrs] = {"]
    for op in ops:
        types = [f"kAttr{a.type.capitalize()}" for a in op.attributes]
        lines.append("  {" + ", ".join(pad(types, "kAttrInt")) + "},")
    lines += ["};", "constexpr AttrValue kOpAttrDefaults[kNumOps][kMaxAttrs] = {"]
    for op in ops:
        lines.append("  {" + ", ".join(pad([_attr_default(a, reductions) for a in op.attributes], "{0, 0.0}")) + "},")
    lines += ["};", "// a float attribute's inclusive lower bound (-infinity: none; NaN is never a value) and the",
              "// requirement its bad_attribute_value message states (nullptr for the other types)",
              "constexpr double kOpAttrMinimum[kNumOps][kMaxAttrs] = {"]
    inf = "-std::numeric_limits<double>::infinity()"
    for op in ops:
        mins = [float(a.minimum).hex() if a.type == "float" and a.minimum is not None else inf for a in op.attributes]
        lines.append("  {" + ", ".join(pad(mins, inf)) + "},")
    lines += ["};", "constexpr const char* kOpAttrRequirement[kNumOps][kMaxAttrs] = {"]
    for op in ops:
        reqs = [_c(a.requirement) if a.type == "float" else "nullptr" for a in op.attributes]
        lines.append("  {" + ", ".join(pad(reqs, "nullptr")) + "},")
    lines.append("};")
    return lines


def render(d: ModuleType) -> str:
    ops = list(d.OPS.values())
    maxin = max(len(op.inputs) for op in ops)
    lines = [
        "// GENERATED by framework/_codegen.py from framework/definitions.py. Do not edit.",
        "#pragma once",
        "#include <cstdint>",
        "#include <limits>",
        "namespace lossgrad {",
        "namespace gen {",
        f"constexpr int kNumOps = {len(ops)};",
        f"constexpr int kMaxRank = {d.MAX_RANK};",
        f"constexpr int kMaxInputs = {maxin};",
        f"constexpr int kNumDTypes = {len(d.DTYPES)};",
        f"constexpr int kNumReductions = {len(d.REDUCTIONS)};",
        f"constexpr int kDefaultReduction = {d.REDUCTIONS.index(d.DEFAULT_REDUCTION)};",
        f"constexpr const char* kDomain = {_c(d.DOMAIN)};",
        f"constexpr int kOpsetVersion = {d.OPSET_VERSION};",
        "constexpr const char* kDTypeNames[kNumDTypes] = {" + ", ".join(_c(x) for x in d.DTYPES) + "};",
        "constexpr const char* kReductionNames[kNumReductions] = {"
        + ", ".join(_c(x) for x in d.REDUCTIONS) + "};",
        "constexpr const char* kOpNames[kNumOps] = {" + ", ".join(_c(op.name) for op in ops) + "};",
        "constexpr int kOpArity[kNumOps] = {" + ", ".join(str(len(op.inputs)) for op in ops) + "};",
        "constexpr bool kOpIsLoss[kNumOps] = {" + ", ".join("true" if op.is_loss else "false" for op in ops) + "};",
        "constexpr double kOpScaleNumerator[kNumOps] = {"
        + ", ".join(repr(float(op.scale_numerator)) for op in ops) + "};",
        "constexpr const char* kOpInputs[kNumOps][kMaxInputs] = {",
    ]
    for op in ops:
        names = [_c(n) for n in op.inputs] + ["nullptr"] * (maxin - len(op.inputs))
        lines.append("  {" + ", ".join(names) + "},")
    lines.append("};")
    lines.append("constexpr const char* kOpOutput[kNumOps] = {" + ", ".join(_c(op.output) for op in ops) + "};")
    lines += render_attributes(ops, list(d.REDUCTIONS))
    for key, tmpl in d.MESSAGES.items():
        camel = "".join(part.capitalize() for part in key.split("_"))
        lines.append(f"constexpr const char* kMsg{camel} = {_c(tmpl)};")
    lines += ["}  // namespace gen", "}  // namespace lossgrad", ""]
    lines += [
        "// X(Name, native_id, arity, is_loss) for every op of framework/definitions.py, in native-id order.",
        "#define LOSSGRAD_FOR_EACH_OP(X) \\",
    ]
    for op in ops:
        if not op.name.isidentifier():
            raise ValueError(f"op name {op.name!r} is not a C++ identifier")
        lines.append(f"  X({op.name}, {op.native_id}, {len(op.inputs)}, {'true' if op.is_loss else 'false'}) \\")
    lines += ["", ""]
    return "\n".join(lines)


def family_headers(families_dir: str = FAMILIES_DIR) -> list:
    """The C++ family headers (``families/<family>.h``), sorted."""
    if not os.path.isdir(families_dir):
        return []
    return sorted(f for f in os.listdir(families_dir) if f.endswith(".h"))


def render_families(families_dir: str = FAMILIES_DIR) -> str:
    lines = [
        "// GENERATED by framework/_codegen.py: every framework/csrc/families/*.h. Do not edit.",
        "#pragma once",
    ]
    lines += [f'#include "families/{name}"' for name in family_headers(families_dir)]
    return "\n".join(lines + [""])


def _write(path: str, text: str) -> None:
    """Write ``text`` to ``path`` unless it holds it already (keeps the timestamp for the build)."""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_header(out_path: str = DEFAULT_OUT) -> str:
    """Write both headers (where their content changed); return the path of ``generated_defs.h``."""
    _write(out_path, render(load_definitions()))
    _write(os.path.join(os.path.dirname(out_path), FAMILIES_HEADER), render_families())
    return out_path


# -- the Ascend op package (framework/ascend) ----------------------------------------
#
# The Ascend side is a CANN package that is built (and checked against CANN's real headers)
# without this generator, so its op table is COMMITTED: ``framework/ascend/op_host/
# lossgrad_ops_table.h``, rendered by :func:`render_ascend_table` and compared with the
# committed file by tests/test_ascend_defs.py. Regenerate it with ``make ascend-table`` (or
# ``python framework/_codegen.py --ascend-table framework/ascend/op_host/lossgrad_ops_table.h``).
# Two more renderings are build outputs: the msOpGen prototypes (build.sh, msOpGen flow) and the
# kernel includes of the test-only CPU stand-in (CMake's LOSSGRAD_ASCEND_SIM build).

ASCEND_DIR = os.path.join(HERE, "ascend")
ASCEND_TABLE = os.path.join(ASCEND_DIR, "op_host", "lossgrad_ops_table.h")
#: float slots of the tiling data (op_kernel/lossgrad_tiling_data.h, LOSSGRAD_TILING_ATTR_SLOTS)
ASCEND_ATTR_SLOTS = 4
#: the dtypes of the Ascend kernel and the C++ type the CANN build passes as DTYPE_Y
ASCEND_DTYPES = (("float16", "half"), ("bfloat16", "bfloat16_t"), ("float32", "float"))


def ascend_snake_case(op_type: str) -> str:
    """CANN's op type -> kernel entry / file name rule ("AddCustomGrad" -> "add_custom_grad")."""
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


def ascend_ops(d: ModuleType) -> list:
    """The ops of the Ascend package: every grad op, then every loss op, each in native-id order
    (grad ops first, so their op ids stay put), with the names the Ascend side derives: kernel
    entry ``<snake>``; family header ``families/<snake minus _grad>.h`` declaring
    ``struct <name minus Grad>Family`` (grad op) or ``families/<snake>.h`` declaring
    ``struct <name>ForwardFamily`` (loss op): one header per family, both ops' compute parts."""
    ops = [op for op in d.OPS.values() if op.kind == "grad"] + [op for op in d.OPS.values() if op.kind == "loss"]
    if len(ops) != len(d.OPS):
        raise ValueError("the Ascend package takes ops of kind 'grad' and 'loss' only")
    for op in ops:
        if not op.name.isidentifier() or (op.kind == "grad") != op.name.endswith("Grad"):
            raise ValueError(f"{op.name}: an Ascend op type is an identifier ending in 'Grad' exactly for grad ops")
        if len(op.inputs) != (3 if op.kind == "grad" else 2):
            raise ValueError(f"{op.name}: the Ascend kernel takes three inputs (grad) or two (loss)")
        if op.attributes[0].name != "reduction":
            raise ValueError(f"{op.name}: the first declared attribute must be 'reduction'")
        floats = [a for a in op.attributes if a.type == "float"]
        if len(floats) > ASCEND_ATTR_SLOTS:
            raise ValueError(f"{op.name}: more than {ASCEND_ATTR_SLOTS} float attributes do not fit the tiling data")
    return ops


def _ascend_names(op) -> tuple:
    kernel = ascend_snake_case(op.name)
    if op.kind == "loss":
        return kernel, kernel + ".h", op.name + "ForwardFamily"
    return kernel, kernel[: -len("_grad")] + ".h", op.name[: -len("Grad")] + "Family"


def _cpp_double(value: float) -> str:
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"a finite value is needed here; got {value!r}")
    return value.hex()


def _ascend_dtype_enum(name: str) -> str:
    """The enumerator of a dtype: ``"bfloat16"`` -> ``BFloat16``."""
    return name[0].upper() + "Float" + name[-2:] if name[0] == "b" else "Float" + name[-2:]


def render_ascend_table(d: ModuleType) -> str:
    """framework/ascend/op_host/lossgrad_ops_table.h: the op table of the Ascend package."""
    ops = ascend_ops(d)
    if ", ".join(n for n, _ in ASCEND_DTYPES) not in d.MESSAGES["bad_ascend_dtype"]:
        raise ValueError("MESSAGES['bad_ascend_dtype'] must list the Ascend dtypes " + str(ASCEND_DTYPES))
    maxattrs = max(len(op.attributes) for op in ops)
    pad = lambda xs, fill: xs + [fill] * (maxattrs - len(xs))  # noqa: E731
    inf = "-std::numeric_limits<double>::infinity()"
    lines = [
        "// GENERATED by framework/_codegen.py (render_ascend_table) from framework/definitions.py. Do not edit:",
        "// regenerate with `make ascend-table` after changing an op declaration (tests/test_ascend_defs.py",
        "// fails while this file is stale). It is committed because CANN builds the package without the",
        "// generator. The generic Ascend sources read every op from here.",
        "#ifndef LOSSGRAD_ASCEND_OPS_TABLE_H_",
        "#define LOSSGRAD_ASCEND_OPS_TABLE_H_",
        "",
        "#include <cstdint>",
        "#include <limits>",
        "",
        '#include "../op_kernel/families/family.h"',
        '#include "../op_kernel/lossgrad_tiling_data.h"',
    ]
    headers = sorted({_ascend_names(op)[1] for op in ops}, key=[_ascend_names(op)[1] for op in ops].index)
    lines += [f'#include "../op_kernel/families/{h}"' for h in headers]
    lines += [
        "",
        "namespace lossgrad {",
        "namespace ascend {",
        "",
        "//! The ops of framework/definitions.py: the grad ops, then the loss ops, each in native-id",
        "//! order (op id = position).",
        f"constexpr int kNumOps = {len(ops)};",
        "//! Inputs of the widest op; kOpNumInputs[op] of them are the op's (a loss op has two).",
        "constexpr int kNumInputs = 3;",
        "constexpr int kOpNumInputs[kNumOps] = {" + ", ".join(str(len(op.inputs)) for op in ops) + "};",
        "//! A loss op (elementwise value and a reduction to one element for \"mean\"/\"sum\") or a grad op.",
        "constexpr bool kOpIsLoss[kNumOps] = {" + ", ".join("true" if op.kind == "loss" else "false" for op in ops)
        + "};",
        "//! CANN op types (also the ONNX op types of the ai.lossgrad domain).",
        "constexpr const char* kOpTypes[kNumOps] = {" + ", ".join(_c(op.name) for op in ops) + "};",
        "//! Kernel entry names and op_kernel/<name>.cpp: CANN's snake case of the op type.",
        "constexpr const char* kKernelNames[kNumOps] = {" + ", ".join(_c(_ascend_names(op)[0]) for op in ops) + "};",
        "//! Input names in the CANN order of docs/SPEC.md (nullptr past the op's inputs).",
        "constexpr const char* kInputNames[kNumOps][kNumInputs] = {",
    ]
    lines += ["    {" + ", ".join([_c(n) for n in op.inputs] + ["nullptr"] * (3 - len(op.inputs))) + "},"
              for op in ops]
    lines += [
        "};",
        "//! Grad ops: s = numerator / N for \"mean\", numerator for \"none\" and \"sum\" (loss ops: 1).",
        "constexpr double kScaleNumerator[kNumOps] = {" + ", ".join(repr(float(op.scale_numerator)) for op in ops) + "};",
        "",
        "//! Declared attributes, in declared order (reduction first): name, type, default, and for",
        "//! a float attribute its inclusive minimum (-infinity: none; NaN is never a value), the",
        "//! requirement its bad-value message states, and its slot in the tiling data's attrs array.",
        "enum AttrKind : int { " + ", ".join(f"kAttr{t.capitalize()} = {i}" for i, t in enumerate(_ATTR_TYPES)) + " };",
        f"constexpr int kMaxAttrs = {maxattrs};",
        "constexpr int kOpNumAttrs[kNumOps] = {" + ", ".join(str(len(op.attributes)) for op in ops) + "};",
        "constexpr const char* kOpAttrNames[kNumOps][kMaxAttrs] = {",
    ]
    lines += ["    {" + ", ".join(pad([_c(a.name) for a in op.attributes], "nullptr")) + "}," for op in ops]
    lines += ["};", "constexpr AttrKind kOpAttrKinds[kNumOps][kMaxAttrs] = {"]
    lines += ["    {" + ", ".join(pad([f"kAttr{a.type.capitalize()}" for a in op.attributes], "kAttrInt")) + "},"
              for op in ops]
    lines += ["};", "//! Default of a string attribute (nullptr for the other types)."]
    lines += ["constexpr const char* kOpAttrDefaultText[kNumOps][kMaxAttrs] = {"]
    lines += ["    {" + ", ".join(pad([_c(a.default) if a.type == "string" else "nullptr" for a in op.attributes],
                                      "nullptr")) + "}," for op in ops]
    lines += ["};", "//! Default of an int, bool (0 / 1) or float attribute (exact; 0 for strings)."]
    lines += ["constexpr double kOpAttrDefaultNumber[kNumOps][kMaxAttrs] = {"]
    lines += ["    {" + ", ".join(pad(["0.0" if a.type == "string" else _cpp_double(a.default) for a in op.attributes],
                                      "0.0")) + "}," for op in ops]
    lines += ["};", "constexpr double kOpAttrMinimum[kNumOps][kMaxAttrs] = {"]
    lines += ["    {" + ", ".join(pad([_cpp_double(a.minimum) if a.type == "float" and a.minimum is not None else inf
                                       for a in op.attributes], inf)) + "}," for op in ops]
    lines += ["};", "constexpr const char* kOpAttrRequirement[kNumOps][kMaxAttrs] = {"]
    lines += ["    {" + ", ".join(pad([_c(a.requirement) if a.type == "float" else "nullptr" for a in op.attributes],
                                      "nullptr")) + "}," for op in ops]
    lines += ["};", "constexpr int kOpAttrSlot[kNumOps][kMaxAttrs] = {"]
    for op in ops:
        slots, n = [], 0
        for a in op.attributes:
            slots.append(str(n) if a.type == "float" else "-1")
            n += a.type == "float"
        lines.append("    {" + ", ".join(pad(slots, "-1")) + "},")
    lines += [
        "};",
        "static_assert(LOSSGRAD_TILING_ATTR_SLOTS >= " + str(ASCEND_ATTR_SLOTS) + ", \"the tiling data holds every float attribute\");",
        "",
        "//! The shared rules of framework/rules.py the Ascend side uses: the reduction attribute and its",
        "//! values (position = aclnn integer), the rank bound, the ONNX domain and opset, the dtypes of",
        "//! the NPU kernels (framework.definitions.DTYPES without float64; index = position there).",
        f"constexpr const char* kAttrName = {_c(d.REDUCTION.name)};",
        f"constexpr int kNumReductions = {len(d.REDUCTIONS)};",
        "constexpr const char* kReductionNames[kNumReductions] = {" + ", ".join(_c(r) for r in d.REDUCTIONS) + "};",
        f"constexpr const char* kDefaultReduction = {_c(d.DEFAULT_REDUCTION)};",
        f"constexpr int kReductionNone = {d.REDUCTIONS.index('none')};",
        f"constexpr int kReductionMean = {d.REDUCTIONS.index('mean')};",
        f"constexpr int kMaxRank = {d.MAX_RANK};",
        f"constexpr const char* kOnnxDomain = {_c(d.DOMAIN)};",
        f"constexpr int kOnnxOpset = {d.OPSET_VERSION};",
        "enum DType : int { " + ", ".join(f"k{_ascend_dtype_enum(n)} = {i}" for i, (n, _) in enumerate(ASCEND_DTYPES))
        + f", kNumDTypes = {len(ASCEND_DTYPES)} }};",
        "constexpr const char* kDTypeNames[kNumDTypes] = {" + ", ".join(_c(n) for n, _ in ASCEND_DTYPES) + "};",
        "constexpr uint64_t kDTypeSize[kNumDTypes] = {" + ", ".join(str(int(n[-2:]) // 8) for n, _ in ASCEND_DTYPES)
        + "};",
        "",
        "//! Every message template of framework/rules.py MESSAGES (\"{field}\" placeholders, as str.format).",
    ]
    for key, template in d.MESSAGES.items():
        camel = "".join(part.capitalize() for part in key.split("_"))
        lines.append(f"constexpr const char* kMsg{camel} = {_c(template)};")
    lines += [
        "",
        "}  // namespace ascend",
        "}  // namespace lossgrad",
        "",
        "namespace lossgrad_kernel {",
        "//! The kernel family of each op (op_kernel/families/<family>.h), in op order.",
        "using Families = FamilyList<" + ", ".join(_ascend_names(op)[2] for op in ops) + ">;",
        "}  // namespace lossgrad_kernel",
        "",
        "//! X(OpType, op_id, kernel_name) for every op of the package, in op order.",
        "#define LOSSGRAD_ASCEND_FOR_EACH_OP(X) \\",
    ]
    lines += [f"  X({op.name}, {i}, {_ascend_names(op)[0]}) \\" for i, op in enumerate(ops)]
    lines += ["", "", "#endif  // LOSSGRAD_ASCEND_OPS_TABLE_H_", ""]
    return "\n".join(lines)


def render_ascend_sim_kernels(d: ModuleType) -> str:
    """The kernel entry files of every op, compiled once per dtype into the test-only CPU stand-in
    (included by framework/ascend/sim/sim_kernels.cc; a build output)."""
    ops = ascend_ops(d)
    lines = ["// GENERATED by framework/_codegen.py (render_ascend_sim_kernels) at build time. Do not edit.",
             "// Every op_kernel/<op>.cpp, once per dtype, its entry renamed lgsim_<entry>_<dtype>; a two-input",
             "// (loss) entry gets a wrapper with the runner's three-input signature (the third is unused)."]
    for dtype, ctype in ASCEND_DTYPES:
        lines.append(f"#define DTYPE_Y {ctype}")
        for op in ops:
            kernel = _ascend_names(op)[0]
            entry = f"lgsim_{kernel}_{dtype}"
            target = entry if len(op.inputs) == 3 else entry + "_2"
            lines += [f"#define {kernel} {target}", f'#include "op_kernel/{kernel}.cpp"', f"#undef {kernel}"]
            if len(op.inputs) == 2:
                lines.append(f"static void {entry}(uint8_t* x0, uint8_t* x1, uint8_t*, uint8_t* y, uint8_t* ws, "
                             f"uint8_t* tiling) {{ {target}(x0, x1, y, ws, tiling); }}")
        lines.append("#undef DTYPE_Y")
    lines.append("//! kSimKernels[op][dtype]: the entries in op order, dtypes float16, bfloat16, float32.")
    lines.append(f"static const lgsim::KernelEntry kSimKernels[{len(ops)}][{len(ASCEND_DTYPES)}] = {{")
    for op in ops:
        kernel = _ascend_names(op)[0]
        lines.append("    {" + ", ".join(f"lgsim_{kernel}_{dtype}" for dtype, _ in ASCEND_DTYPES) + "},")
    lines += ["};", ""]
    return "\n".join(lines)


def render_ascend_msopgen_json(d: ModuleType) -> str:
    """The op prototypes msOpGen reads (framework/ascend/build.sh, msOpGen flow; a build output)."""
    types = {"string": "string", "int": "int", "float": "float", "bool": "bool"}

    def default(a):
        if a.type == "string":
            return a.default
        if a.type == "bool":
            return "true" if a.default else "false"
        return repr(float(a.default)) if a.type == "float" else str(int(a.default))

    def desc(name):
        return {"name": name, "param_type": "required", "format": ["ND", "ND", "ND"],
                "type": ["float16", "bfloat16", "float"]}

    protos = [{"op": op.name,
               "input_desc": [desc(n) for n in op.inputs], "output_desc": [desc("y")],  # y: the OpDef's name
               "attr": [{"name": a.name, "param_type": "optional", "type": types[a.type], "default_value": default(a)}
                        for a in op.attributes]} for op in ascend_ops(d)]
    return json.dumps(protos, indent=2) + "\n"


def _main(argv: list) -> int:
    renders = {"--ascend-table": render_ascend_table, "--ascend-sim-kernels": render_ascend_sim_kernels,
               "--ascend-json": render_ascend_msopgen_json}
    if argv and argv[0] in renders:
        out = argv[1] if len(argv) > 1 else (ASCEND_TABLE if argv[0] == "--ascend-table" else None)
        if out is None:
            raise SystemExit(f"usage: _codegen.py {argv[0]} OUT_PATH")
        _write(out, renders[argv[0]](load_definitions()))
        print(out)
        return 0
    print(write_header(argv[0] if argv else DEFAULT_OUT))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

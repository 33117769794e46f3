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


if __name__ == "__main__":
    print(write_header(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT))

"""The generated C++ attribute tables (framework/_codegen.py) for a hypothetical family.

No real op is added: the test declares a FooLoss/FooLossGrad pair with attributes of every
type in a copy of the definitions, renders generated_defs.h, compiles a small C++ program
against it and compares the tables the program prints with the declaration.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import subprocess
import sys
import types

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _codegen():
    spec = importlib.util.spec_from_file_location("_lossgrad_codegen_test", os.path.join(ROOT, "framework", "_codegen.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ident(value, name):
    return value


def _hypothetical(codegen, extra):
    """A copy of the definitions whose ops are the real ones plus FooLoss/FooLossGrad declaring ``extra``."""
    d = codegen.load_definitions()
    rules = sys.modules[type(next(iter(d.OPS.values()))).__module__]
    ops = dict(d.OPS)
    base = len(ops)
    loss = next(op for op in ops.values() if op.is_loss)
    grad = next(op for op in ops.values() if not op.is_loss)
    attrs = (rules.REDUCTION,) + tuple(rules.Attribute(n, t, v, _ident) for n, t, v in extra)
    ops["FooLoss"] = dataclasses.replace(loss, name="FooLoss", native_id=base, attributes=attrs)
    ops["FooLossGrad"] = dataclasses.replace(grad, name="FooLossGrad", native_id=base + 1, attributes=attrs)
    fake = types.SimpleNamespace(**{k: getattr(d, k) for k in dir(d) if not k.startswith("__")})
    fake.OPS = ops
    return fake, rules


EXTRA = (("beta", "float", 0.1), ("steps", "int", -3), ("flag", "bool", True))

PROGRAM = r"""
#include <cstdio>
#include "generated_defs.h"
using namespace lossgrad::gen;
int main() {
  for (int op = 0; op < kNumOps; ++op) {
    std::printf("%s", kOpNames[op]);
    for (int a = 0; a < kOpNumAttrs[op]; ++a)
      std::printf(" %s:%d:%lld:%a", kOpAttrNames[op][a], static_cast<int>(kOpAttrTypes[op][a]),
                  static_cast<long long>(kOpAttrDefaults[op][a].i), kOpAttrDefaults[op][a].f);
    std::printf("\n");
  }
  return 0;
}
"""


def test_attribute_tables_of_a_hypothetical_family(tmp_path):
    codegen = _codegen()
    d, rules = _hypothetical(codegen, EXTRA)
    text = codegen.render(d)
    assert "constexpr int kMaxAttrs = 4;" in text
    cxx = shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    (tmp_path / "generated_defs.h").write_text(text)
    (tmp_path / "main.cc").write_text(PROGRAM)
    exe = tmp_path / "main"
    subprocess.run([cxx, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path), str(tmp_path / "main.cc"),
                    "-o", str(exe)], check=True)
    lines = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.splitlines()
    types_ = {t: i for i, t in enumerate(rules.ATTRIBUTE_TYPES)}
    assert [ln.split()[0] for ln in lines] == list(d.OPS)
    for line, op in zip(lines, d.OPS.values()):
        got = [tok.split(":") for tok in line.split()[1:]]
        assert [g[0] for g in got] == [a.name for a in op.attributes]
        assert [int(g[1]) for g in got] == [types_[a.type] for a in op.attributes]
        for (_, _, i, f), a in zip(got, op.attributes):
            if a.type == "string":
                assert int(i) == list(d.REDUCTIONS).index(a.default)
            elif a.type == "float":
                assert float.fromhex(f) == a.default  # exact, no decimal rounding
            else:
                assert int(i) == int(a.default)


@pytest.mark.parametrize("extra, words", [
    ((("mode", "string", "x"),), "string attribute"),
    ((("beta", "float", float("inf")),), "finite default"),
])
def test_undeliverable_attributes_fail_at_build_naming_them(extra, words):
    codegen = _codegen()
    d, _ = _hypothetical(codegen, extra)
    with pytest.raises(ValueError, match=words) as info:
        codegen.render(d)
    assert repr(extra[0][0]) in str(info.value)

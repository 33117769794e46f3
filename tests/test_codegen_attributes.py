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


# A hypothetical family with a float attribute is pure declaration + functor: the core, built
# against the generated tables of the test's definitions and the family header below, takes it.
FOO_FAMILY = r"""
#pragma once
#include "lossgrad/generated_defs.h"
#include "lossgrad/math.h"
namespace lossgrad {
namespace ops {
struct FooLoss {  // e = |d| / beta + steps (attrs: reduction, beta, steps, flag)
  double beta; double steps;
  explicit FooLoss(const gen::AttrValue* a) : beta(a[1].f), steps(static_cast<double>(a[2].i)) {}
  template <class C> C Apply(C p, C l) const { return Abs(p - l) / Splat<C>(beta) + Splat<C>(steps); }
};
struct FooLossGrad {  // y = dout * (d / beta) * s, negated when flag
  double beta; bool flag;
  explicit FooLossGrad(const gen::AttrValue* a) : beta(a[1].f), flag(a[3].i != 0) {}
  template <class C> C Apply(C p, C l, C dout, C s) const {
    const C y = dout * ((p - l) / Splat<C>(beta)) * s;
    return flag ? -y : y;
  }
};
}  // namespace ops
}  // namespace lossgrad
"""


def test_a_family_functor_receives_its_declared_attributes(tmp_path):
    import ctypes

    import numpy as np

    codegen = _codegen()
    d, _ = _hypothetical(codegen, (("beta", "float", 0.5), ("steps", "int", 0), ("flag", "bool", False)))
    cxx = shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    gen = tmp_path / "lossgrad"
    gen.mkdir()
    (gen / "generated_defs.h").write_text(codegen.render(d))
    (tmp_path / "families").mkdir()
    (tmp_path / "families" / "foo_test.h").write_text(FOO_FAMILY)
    includes = [f'#include "families/{h}"' for h in codegen.family_headers()] + ['#include "families/foo_test.h"']
    (gen / "generated_families.h").write_text("#pragma once\n" + "\n".join(includes) + "\n")
    csrc = os.path.join(ROOT, "framework", "csrc")
    lib = tmp_path / "libfoo.so"
    sources = [os.path.join(csrc, f) for f in ("capi.cc", "lossgrad/core.cc", "lossgrad/isa.cc",
                                               "lossgrad/kernels_isa.cc", "lossgrad/thread_pool.cc")]
    # The baseline level of the fused loops only (the build adds the others, see CMakeLists.txt).
    subprocess.run([cxx, "-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-Wno-psabi",
                    "-DLOSSGRAD_ISA_NS=baseline", "-shared",
                    "-fPIC", "-pthread", "-I", str(tmp_path), "-I", csrc,
                    "-I", os.path.join(ROOT, "framework", "ascend"), *sources, "-o", str(lib)], check=True)
    native = ctypes.CDLL(str(lib))

    class TensorRef(ctypes.Structure):
        _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int32), ("ndim", ctypes.c_int32),
                    ("shape", ctypes.c_int64 * d.MAX_RANK), ("strides", ctypes.c_int64 * d.MAX_RANK)]

    class AttrValue(ctypes.Structure):
        _fields_ = [("i", ctypes.c_int64), ("f", ctypes.c_double)]

    def ref(a):
        t = TensorRef(a.ctypes.data, list(d.DTYPES).index(a.dtype.name), a.ndim)
        for k, n in enumerate(a.shape):
            t.shape[k], t.strides[k] = n, a.strides[k] // a.itemsize
        return t

    def run(name, inputs, out, attrs):
        refs = (TensorRef * len(inputs))(*[ref(a) for a in inputs])
        out_ref = ref(out)
        err = ctypes.create_string_buffer(512)
        native.lossgrad_run.argtypes = [ctypes.c_int32, ctypes.POINTER(AttrValue), ctypes.c_int32,
                                        ctypes.POINTER(TensorRef), ctypes.POINTER(TensorRef), ctypes.c_char_p,
                                        ctypes.c_int64]
        values = (AttrValue * len(attrs))(*[AttrValue(*v) for v in attrs])
        rc = native.lossgrad_run(d.OPS[name].native_id, values, len(inputs), refs, ctypes.byref(out_ref), err, 512)
        assert rc == 0, err.value.decode()
        return out

    rng = np.random.default_rng(10)
    p, l, g = (rng.standard_normal((3, 5)) for _ in range(3))
    mean = list(d.REDUCTIONS).index("mean")
    none = list(d.REDUCTIONS).index("none")
    for beta, steps, flag in ((0.25, 0, 0), (3.0, 2, 1), (1e-300 * 1e290, -1, 0)):
        attrs = [(mean, 0.0), (0, beta), (steps, 0.0), (flag, 0.0)]
        y = run("FooLossGrad", [p, l, g], np.empty((3, 5)), attrs)
        s = d.OPS["FooLossGrad"].scale_numerator / 15  # the declared scale of the copied grad op
        want = g * ((p - l) / beta) * s * (-1.0 if flag else 1.0)
        np.testing.assert_allclose(y, want, rtol=1e-12, atol=0)
        e = run("FooLoss", [p, l], np.empty((3, 5)), [(none, 0.0)] + attrs[1:])
        np.testing.assert_allclose(e, np.abs(p - l) / beta + steps, rtol=1e-12, atol=0)

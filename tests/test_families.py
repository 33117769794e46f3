"""The op families and their registry: every op declared once, every part present, faces derived."""
from __future__ import annotations

import inspect
import math
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from lossgrad_ops.framework import cpu, definitions as d, gradients, reference as ref, registry, rules
from lossgrad_ops.framework.rules import Attribute, OpDef

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_declared_op_has_every_part_and_one_family():
    assert list(d.OPS) == [op.name for op in sorted(d.OPS.values(), key=lambda o: o.native_id)]
    for name, op in d.OPS.items():
        family = registry.FAMILIES[registry.FAMILY_OF[name]]
        assert op in family.OPS
        for part in registry.PARTS:
            assert callable(getattr(registry, part)[name]), (name, part)
        assert gradients.BPROPS[name] is registry.BPROPS[name]
        assert getattr(d, registry.constant_name(name)) is op
        assert op.attributes[0] is rules.REDUCTION


def _family(**parts):
    op = OpDef(name="FooLossGrad", native_id=0, inputs=("a", "b"), output="y", kind="grad")
    module = types.ModuleType("foo")
    module.OPS = (op,)
    for part in registry.PARTS:
        setattr(module, part, {op.name: lambda *a: None})
    for part, value in parts.items():
        setattr(module, part, value)
    return module


def test_a_family_missing_a_part_fails_naming_it():
    assert registry._check("foo", _family())  # complete: accepted
    for part, what in registry.PARTS.items():
        with pytest.raises(ImportError, match=f"family 'foo'.*FooLossGrad has no {what} \\({part}"):
            registry._check("foo", _family(**{part: {}}))
        with pytest.raises(ImportError, match=f"family 'foo'.* has no {what}s: it needs {part}"):
            registry._check("foo", _family(**{part: None}))
        with pytest.raises(ImportError, match=f"{part} names ops the family does not declare: Bar"):
            registry._check("foo", _family(**{part: {"FooLossGrad": len, "Bar": len}}))
    with pytest.raises(ImportError, match="family 'foo'.* declares no ops"):
        registry._check("foo", _family(OPS=()))


def test_declarations_reject_what_the_generic_rules_cannot_serve():
    with pytest.raises(ValueError, match="kind 'other'"):
        OpDef(name="X", native_id=0, inputs=("a",), output="y", kind="other")
    with pytest.raises(ValueError, match="first declared attribute must be rules.REDUCTION"):
        OpDef(name="X", native_id=0, inputs=("a",), output="y", kind="grad", attributes=())
    with pytest.raises(ValueError, match="dtype rule"):
        OpDef(name="X", native_id=0, inputs=("a",), output="y", kind="grad", dtype_rule="widest")
    with pytest.raises(TypeError, match="type 'double'"):
        Attribute("beta", "double", 1.0, lambda v, op: v)


def _beta(value, op):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{op}: beta must be a float")
    if not value >= 0:
        raise ValueError(f"{op}: beta must be >= 0; got {value!r}")
    return float(value)


BETA = Attribute("beta", "float", 1.0, _beta, "a float >= 0")
WITH_BETA = OpDef(name="XLossGrad", native_id=0, inputs=("a", "b"), output="y", kind="grad",
                  attributes=(rules.REDUCTION, BETA))


def test_a_declared_attribute_is_checked_defaulted_and_planned():
    assert WITH_BETA.attribute_values() == {"reduction": "mean", "beta": 1.0}
    assert WITH_BETA.attribute_values(2, beta=3) == {"reduction": "sum", "beta": 3.0}
    plan = WITH_BETA.plan([(2,), (2,)], ["float32"] * 2, "none", beta=0.25)
    assert plan.attrs == (("reduction", "none"), ("beta", 0.25)) and plan.extra == {"beta": 0.25}
    with pytest.raises(ValueError, match="beta must be >= 0"):
        WITH_BETA.plan([(2,), (2,)], ["float32"] * 2, "none", beta=-1.0)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        WITH_BETA.attribute_values(beta=math.nan)
    with pytest.raises(TypeError, match="unknown attribute 'gamma'"):
        WITH_BETA.attribute_values(gamma=1.0)
    with pytest.raises(TypeError, match="unknown attribute 'beta'"):
        d.OPS["MseLossGrad"].plan([(2,)] * 3, ["float32"] * 3, "mean", beta=1.0)


@pytest.mark.parametrize("beta", [0.0, 0.25, 1.0, 3.0, 0.1, 1 / 3, 5e-324, 1.7976931348623157e308])
def test_registration_names_carry_attributes_exactly(beta):
    values = WITH_BETA.attribute_values("sum", beta=beta)
    tokens = rules.encode_attributes(WITH_BETA, values)
    assert tokens[0] == "sum" and "_" not in "".join(tokens)
    decoded = rules.decode_attributes(WITH_BETA, tokens)
    assert decoded == values and decoded["beta"].hex() == float(beta).hex()  # not a bit lost
    assert rules.decode_attributes(WITH_BETA, ("sum",)) is None
    assert rules.decode_attributes(WITH_BETA, ("sum", "-0x1p+0")) is None  # decoded values are checked
    assert rules.decode_attributes(WITH_BETA, ("avg", "0x1p+0")) is None


def test_registration_names_of_the_declared_ops_are_unchanged():
    """``<Op>_<reduction>`` for an op declaring only the reduction (the names exported models
    carry); the other declared attributes follow, a float as its exact ``float.hex``."""
    for name, op in d.OPS.items():
        defaults = {a.name: a.default for a in op.attributes[1:]}
        tail = "".join(f"_{float(v).hex()}" for v in defaults.values())  # the families declare floats only
        assert all(a.type == "float" for a in op.attributes[1:])
        for red in d.REDUCTIONS:
            assert d.custom_reg_name(name, red) == f"{name}_{red}{tail}"
            assert d.parse_custom_reg_name(f"{name}_{red}{tail}") == (name, {"reduction": red, **defaults})
        assert d.parse_custom_reg_name(f"{name}_avg{tail}") is None
        assert d.parse_custom_reg_name(f"{name}_mean{tail}_extra") is None
        for a in op.attributes[1:]:  # a value that is not a float32: carried exactly
            value = 0.1 if a.check(0.1, name) == 0.1 else a.default
            reg = d.custom_reg_name(name, "sum", **{a.name: value})
            assert reg.endswith("_" + (0.1).hex()) or value != 0.1
            assert d.parse_custom_reg_name(reg)[1][a.name] == value
    assert d.parse_custom_reg_name("Foo_mean") is None


def test_scale_over_an_empty_shape_is_zero():
    for op in d.OPS.values():
        for red in d.REDUCTIONS:
            s = op.scale(red, 0)
            assert s == (1.0 if op.is_loss else 0.0 if red == "mean" else op.scale_numerator)
            assert math.isfinite(s)


def test_faces_have_one_function_per_op_with_the_declared_signature():
    for name, op in d.OPS.items():
        fname = registry.function_name(name)
        for face, extra in ((cpu, ["out"]), (ref, [])):
            fn = getattr(face, fname)
            params = inspect.signature(fn).parameters
            assert list(params) == [*op.inputs, *(a.name for a in op.attributes), *extra], (face, name)
            assert params["reduction"].default == d.DEFAULT_REDUCTION
            assert fname in face.__all__
    assert registry.function_name("L1LossGrad") == "l1_loss_grad"
    assert registry.constant_name("SmoothL1LossGrad") == "SMOOTH_L1_LOSS_GRAD"


def test_faces_take_attributes_positionally_and_by_keyword():
    rng = np.random.default_rng(7)
    p, l, g = (rng.standard_normal((3, 4)) for _ in range(3))
    expected = g * (p - l) * 2.0 / 12  # MseLossGrad, mean, float64
    for face in (cpu, ref):
        np.testing.assert_allclose(face.mse_loss_grad(p, l, g), expected, rtol=1e-15)
        np.testing.assert_allclose(face.mse_loss_grad(p, l, g, 1), expected, rtol=1e-15)
        np.testing.assert_allclose(face.mse_loss_grad(dout=g, label=l, predict=p, reduction="mean"), expected,
                                   rtol=1e-15)
        with pytest.raises(TypeError, match="at most 4 positional arguments"):
            face.mse_loss_grad(p, l, g, "mean", "extra")
        with pytest.raises(TypeError, match="missing required arguments: 'dout'"):
            face.mse_loss_grad(p, l)
        with pytest.raises(TypeError, match="unexpected keyword argument 'beta'"):
            face.mse_loss_grad(p, l, g, beta=1.0)
        with pytest.raises(TypeError, match="multiple values for argument 'reduction'"):
            face.mse_loss_grad(p, l, g, "mean", reduction="sum")
    with pytest.raises(TypeError, match="unexpected keyword argument 'out'"):
        ref.mse_loss_grad(p, l, g, out=np.empty_like(p))
    out = np.empty_like(p)
    assert cpu.mse_loss_grad(p, l, g, out=out) is out


def test_the_declarations_load_without_numpy_or_the_package():
    """The build generates the C++ header from definitions.py alone: no NumPy, no lossgrad_ops package."""
    code = ("import sys; sys.modules['numpy'] = None\n"
            "sys.path.insert(0, 'framework'); import _codegen\n"
            "d = _codegen.load_definitions()\n"
            "assert 'lossgrad_ops' not in sys.modules\n"
            "print(sorted((o.name, o.native_id, o.inputs) for o in d.OPS.values()))\n"
            "print(d.custom_reg_name('MseLoss', 2), d.MSE_LOSS_GRAD.scale('mean', 4))\n"
            "print(len(_codegen.render(d)) > 0)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == str(sorted((o.name, o.native_id, o.inputs) for o in d.OPS.values()))
    assert lines[1:] == ["MseLoss_sum 0.5", "True"]


class NumpyBackend:
    """framework.gradients.GradBackend over the float64 reference (an independent evaluation
    of the families' gradient formulas, with no MindSpore)."""

    @staticmethod
    def call(op, attrs, *inputs):
        return ref.run(op, *inputs, **dict(attrs))

    @staticmethod
    def reduce_to(t, like):
        t, shape = np.asarray(t, np.float64), np.shape(like)
        t = t.sum(axis=tuple(range(t.ndim - len(shape))))
        axes = tuple(i for i, d in enumerate(shape) if d == 1 and t.shape[i] != 1)
        return t.sum(axis=axes, keepdims=True).reshape(shape)

    def neg_reduce_to(self, t, like):
        return -self.reduce_to(t, like)

    @staticmethod
    def zeros_like(t):
        return np.zeros_like(t)

    @staticmethod
    def scalar_zero(like):
        return np.zeros((), np.asarray(like).dtype)

    @staticmethod
    def scalar_one(like):
        return np.ones((), np.asarray(like).dtype)

    @staticmethod
    def pointwise(formula, inputs, params=()):
        with np.errstate(all="ignore"):
            xp = types.SimpleNamespace(where=np.where, abs=np.abs, stop_gradient=lambda x: x)
            return formula(xp, *[np.asarray(x, np.float64) for x in inputs], *params)


GRAD_SHAPES = [((3, 4), (3, 4), (3, 4)), ((2, 3, 4), (4,), (3, 1)), ((), (5, 1), (1, 6))]


@pytest.mark.parametrize("op", list(d.OPS))
@pytest.mark.parametrize("reduction", d.REDUCTIONS)
@pytest.mark.parametrize("shapes", GRAD_SHAPES, ids=str)
def test_gradient_formulas_match_finite_differences(op, reduction, shapes):
    """BPROPS[op](b, *x, g, attrs) is the gradient of sum(g * op(*x)) for every declared op,
    checked by central differences in float64 (inputs kept away from the kinks of |.| and sign)."""
    spec = d.OPS[op]
    rng = np.random.default_rng(spec.native_id * 100 + d.REDUCTIONS.index(reduction))
    x = [np.asarray(rng.uniform(0.5, 1.5, s) * (1 if k % 2 else -1)) for k, s in enumerate(shapes[:len(spec.inputs)])]
    attrs = spec.plan([a.shape for a in x], ["float64"] * len(x), reduction).attrs
    out = ref.run(op, *x, reduction=reduction)
    g = np.asarray(rng.uniform(0.5, 1.5, out.shape))
    grads = gradients.BPROPS[op](NumpyBackend(), *x, g, attrs)
    assert len(grads) == len(x)
    h = 1e-6
    for k, (a, grad) in enumerate(zip(x, grads)):
        assert np.shape(grad) == a.shape
        numeric = np.zeros(a.shape)
        for idx in np.ndindex(a.shape):
            plus, minus = [b.copy() for b in x], [b.copy() for b in x]
            plus[k][idx] += h
            minus[k][idx] -= h
            numeric[idx] = (np.sum(g * ref.run(op, *plus, reduction=reduction))
                            - np.sum(g * ref.run(op, *minus, reduction=reduction))) / (2 * h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8, err_msg=f"{op} d/d{spec.inputs[k]}")



"""The native core's generic machinery: the op table generated from the declarations, the
family functors, the shape module (lossgrad/shape.h) and reduce_to, checked through the C API
against NumPy (float64 references, fixed seeds) and the message templates of
framework.definitions.MESSAGES."""
from __future__ import annotations

import ctypes
import dataclasses
import os
import re

import numpy as np
import pytest

from lossgrad_ops.framework import _codegen, cpu
from lossgrad_ops.framework import definitions as d
from tests.helpers import raw_attrs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAMILIES = os.path.join(REPO, "framework", "csrc", "families")


def _ref(shape, strides=None, dtype_code=2):
    t = cpu._TensorRef()
    t.data = None
    t.dtype = dtype_code
    t.ndim = len(shape)
    for k, dim in enumerate(shape):
        t.shape[k] = dim
        t.strides[k] = 1 if strides is None else strides[k]
    return t


def _run(op_id, reduction, refs, out_shape, out_dtype_code=2):
    lib = cpu._library()
    arr = (cpu._TensorRef * max(1, len(refs)))(*refs)
    out_ref = _ref(out_shape, dtype_code=out_dtype_code)
    err = ctypes.create_string_buffer(1024)
    rc = lib.lossgrad_run(op_id, raw_attrs(op_id, reduction), len(refs), arr, ctypes.byref(out_ref), err, len(err))
    return rc, err.value.decode()


# ---------------------------------------------------------------------------
# The generated op table and the family headers


def test_the_generated_op_table_lists_every_declared_op_in_native_id_order():
    text = _codegen.render(_codegen.load_definitions())
    rows = re.findall(r"^  X\((\w+), (\d+), (\d+), (true|false)\) \\$", text, re.M)
    assert rows == [(op.name, str(op.native_id), str(len(op.inputs)), "true" if op.is_loss else "false")
                    for op in d.OPS.values()]


def test_the_library_reports_the_op_table_it_was_built_with():
    lib = cpu._library()
    assert [lib.lossgrad_op_name(i).decode() for i in range(lib.lossgrad_num_ops())] == list(d.OPS)
    assert lib.lossgrad_op_name(len(d.OPS)) is None and lib.lossgrad_op_name(-1) is None


def test_the_library_reports_the_attributes_it_was_built_with():
    from lossgrad_ops.framework import rules
    lib = cpu._library()
    for op in d.OPS.values():
        got = [(lib.lossgrad_attr_name(op.native_id, i).decode(), lib.lossgrad_attr_type(op.native_id, i))
               for i in range(lib.lossgrad_num_attrs(op.native_id))]
        assert got == [(a.name, rules.ATTRIBUTE_TYPES.index(a.type)) for a in op.attributes]
        assert lib.lossgrad_attr_name(op.native_id, len(op.attributes)) is None
    assert lib.lossgrad_num_attrs(len(d.OPS)) == 0 and lib.lossgrad_attr_name(-1, 0) is None


def test_a_library_built_for_other_attributes_is_reported_stale(monkeypatch):
    from lossgrad_ops.framework import rules
    first = next(iter(d.OPS.values()))
    beta = rules.Attribute("beta", "float", 1.0, lambda v, name: v)
    changed = dict(d.OPS, **{first.name: dataclasses.replace(first, attributes=first.attributes + (beta,))})
    monkeypatch.setattr(cpu, "OPS", changed)
    with pytest.raises(cpu.NativeLibraryError, match=f"built for {first.name} with the attributes.*reinstall"):
        cpu._load()


def test_a_library_built_for_other_ops_is_reported_stale(monkeypatch):
    extra = dict(d.OPS)
    extra["NotBuiltLoss"] = dataclasses.replace(next(iter(d.OPS.values())), name="NotBuiltLoss",
                                                native_id=len(d.OPS))
    monkeypatch.setattr(cpu, "OPS", extra)
    with pytest.raises(cpu.NativeLibraryError, match="built for the ops .*NotBuiltLoss.*reinstall"):
        cpu._load()


# ---------------------------------------------------------------------------
# Messages of the core's own checks come from the one template table


def test_unknown_op_id():
    rc, msg = _run(len(d.OPS), 1, [_ref((2,))] * 3, (2,))
    assert rc == 1 and msg == d.MESSAGES["unknown_op"].format(id=len(d.OPS))


@pytest.mark.parametrize("op", d.OPS.values(), ids=lambda op: op.name)
def test_negative_dimension_names_the_input(op):
    refs = [_ref((2, 3)) for _ in op.inputs]
    refs[-1] = _ref((2, -3))
    rc, msg = _run(op.native_id, 0, refs, (2, 3))
    assert rc == 1 and msg == d.MESSAGES["negative_dim"].format(op=op.name, arg=op.inputs[-1])


@pytest.mark.parametrize("op", d.OPS.values(), ids=lambda op: op.name)
def test_more_than_2_63_elements(op):
    refs = [_ref((2**62,)) for _ in op.inputs]
    refs[0] = _ref((4, 1))
    rc, msg = _run(op.native_id, 0, refs, (4, 2**62))
    assert rc == 1 and msg == d.MESSAGES["too_many_elements"].format(op=op.name)


@pytest.mark.parametrize("op", d.OPS.values(), ids=lambda op: op.name)
def test_an_output_buffer_not_as_inferred(op):
    refs = [_ref((2, 3)) for _ in op.inputs]
    rc, msg = _run(op.native_id, 0, refs, (3, 2))
    assert rc == 1 and msg == d.MESSAGES["bad_out_buffer"].format(op=op.name, dtype="float32", shape=(2, 3))
    rc, msg = _run(op.native_id, 0, [_ref((5,)) for _ in op.inputs], (5,), out_dtype_code=3)
    assert rc == 1 and msg == d.MESSAGES["bad_out_buffer"].format(op=op.name, dtype="float32", shape=(5,))


def test_reduce_to_errors():
    with pytest.raises(ValueError) as e:
        cpu.reduce_to(np.ones((2, 3), np.float32), (4, 2, 1))
    assert str(e.value) == d.MESSAGES["cannot_reduce"].format(op="ReduceTo", shape=(2, 3), target=(4, 2, 1))
    with pytest.raises(ValueError) as e:
        cpu.reduce_to(np.ones((2, 3), np.float32), (3,) * 1 + (1,))
    assert str(e.value) == d.MESSAGES["cannot_reduce"].format(op="ReduceTo", shape=(2, 3), target=(3, 1))
    with pytest.raises(TypeError) as e:
        cpu.reduce_to(np.ones(3, np.int32), (3,))
    assert str(e.value) == d.MESSAGES["reduce_to_dtype"].format(op="reduce_to", dtype="int32", target="int32")
    # the native check, reached directly
    lib = cpu._library()
    err = ctypes.create_string_buffer(256)
    rc = lib.lossgrad_reduce_to(ctypes.byref(_ref((3,), dtype_code=2)), ctypes.byref(_ref((3,), dtype_code=9)),
                                1.0, err, len(err))
    assert rc == 2 and err.value.decode() == d.MESSAGES["reduce_to_dtype"].format(
        op="ReduceTo", dtype="float32", target="unknown (code 9)")


# ---------------------------------------------------------------------------
# Broadcasting (lossgrad/shape.h) agrees with NumPy's rule


def _random_shapes(rng, n):
    base = [int(v) for v in rng.integers(0, 4, size=rng.integers(0, 5))]
    shapes = []
    for _ in range(n):
        rank = int(rng.integers(0, len(base) + 1))
        shape = [b if rng.random() < 0.6 else int(rng.choice([1, 1, 2, 3, 0])) for b in base[len(base) - rank:]]
        shapes.append(tuple(shape))
    return shapes


@pytest.mark.parametrize("op", d.OPS.values(), ids=lambda op: op.name)
def test_native_broadcasting_is_numpys(op):
    rng = np.random.default_rng(20261202)
    accepted = refused = 0
    for _ in range(300):
        shapes = _random_shapes(rng, len(op.inputs))
        refs = [_ref(s) for s in shapes]
        try:
            expected = np.broadcast_shapes(*shapes)
        except ValueError:
            rc, msg = _run(op.native_id, 0, refs, ())
            names = ", ".join(f"{n} {s}" for n, s in zip(op.inputs, shapes))
            assert rc == 1 and msg == d.MESSAGES["not_broadcastable"].format(op=op.name, shapes=names)
            refused += 1
            continue
        if int(np.prod(expected)) != 0:
            continue  # the data pointers are null: only empty results may run
        rc, msg = _run(op.native_id, 0, refs, expected)
        assert rc == 0, (shapes, msg)
        accepted += 1
    assert accepted > 20 and refused > 20


# ---------------------------------------------------------------------------
# The kernels of every declared op against float64 NumPy, through the generic dispatch


def _reference(op, arrays, reduction):
    from lossgrad_ops.framework import reference
    return reference.run(op.name, *[a.astype(np.float64) for a in arrays], reduction=reduction)


@pytest.mark.parametrize("op", d.OPS.values(), ids=lambda op: op.name)
@pytest.mark.parametrize("reduction", d.REDUCTIONS)
def test_every_op_matches_its_float64_reference(op, reduction):
    rng = np.random.default_rng(7)
    shapes = [(3, 1, 5), (4, 1), (5,)][:len(op.inputs)]
    arrays = [rng.standard_normal(s) for s in shapes]
    got = cpu.run(op.name, *arrays, reduction=reduction)
    want = _reference(op, arrays, reduction)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------
# reduce_to: the copy path and the summing path against float64 NumPy


def _reduce_reference(t, shape, negate):
    t = np.asarray(t, np.float64)
    lead = t.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + k for k, s in enumerate(shape) if s == 1 and t.shape[lead + k] != 1)
    r = t.sum(axis=axes, keepdims=True).reshape(shape) if t.size else np.zeros(shape)
    return -r if negate else r


@pytest.mark.parametrize("negate", [False, True])
@pytest.mark.parametrize("case", [
    ((4, 5, 6), (5, 1)), ((4, 5, 6), (4, 5, 6)), ((4, 5, 6), ()), ((4, 5, 6), (1, 1, 1)), ((4, 5, 6), (4, 1, 6)),
    ((1000, 30), (30,)), ((3, 0), (1, 0)), ((3, 0), (3, 1)), ((2, 1, 3), (1, 3)), ((7,), (1,)),
])
def test_reduce_to_matches_numpy(case, negate):
    shape_in, shape_out = case
    rng = np.random.default_rng(3)
    t = rng.standard_normal(shape_in)
    for view in (t, np.asfortranarray(t), t[..., ::-1] if t.ndim else t):
        got = cpu.reduce_to(view, shape_out, negate=negate)
        assert got.shape == shape_out and got.dtype == np.float64
        np.testing.assert_allclose(got, _reduce_reference(view, shape_out, negate), rtol=1e-12, atol=1e-12)
    # a converting pass to float32 is the float64 result rounded once
    t32 = t.astype(np.float32)
    got32 = cpu.reduce_to(t32, shape_out, np.float32, negate)
    assert got32.dtype == np.float32
    # summed in double, rounded once: within one float32 rounding of the float64 sum
    bound = 2.0**-23 * _reduce_reference(np.abs(t32), shape_out, False) + 1e-30
    assert np.all(np.abs(got32 - _reduce_reference(t32, shape_out, negate)) <= bound)

"""The native core's generic machinery: the op table generated from the declarations and the
family functors, checked through the C API against float64 NumPy references (fixed seeds)."""
from __future__ import annotations

import ctypes
import os
import re

import numpy as np
import pytest

from lossgrad_ops.framework import _codegen, cpu
from lossgrad_ops.framework import definitions as d

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
    rc = lib.lossgrad_run(op_id, reduction, len(refs), arr, ctypes.byref(out_ref), err, len(err))
    return rc, err.value.decode()


# ---------------------------------------------------------------------------
# The generated op table and the family headers


def test_the_generated_op_table_lists_every_declared_op_in_native_id_order():
    text = _codegen.render(_codegen.load_definitions())
    rows = re.findall(r"^  X\((\w+), (\d+), (\d+), (true|false)\) \\$", text, re.M)
    assert rows == [(op.name, str(op.native_id), str(len(op.inputs)), "true" if op.is_loss else "false")
                    for op in d.OPS.values()]


def test_every_declared_op_has_exactly_one_functor_in_the_family_headers():
    headers = _codegen.family_headers(FAMILIES)
    assert headers, "no C++ family header"
    generated = _codegen.render_families(FAMILIES)
    for name in headers:
        assert f'#include "families/{name}"' in generated
    defined = {}
    for name in headers:
        with open(os.path.join(FAMILIES, name), encoding="utf-8") as f:
            for struct in re.findall(r"^struct (\w+) \{", f.read(), re.M):
                defined.setdefault(struct, []).append(name)
    for op in d.OPS:
        assert len(defined.get(op, [])) == 1, (op, defined.get(op))


def test_generic_native_files_name_no_op():
    """Only the family headers spell op names; the generic C++ faces iterate over the table."""
    generic = [os.path.join(REPO, "framework", "csrc", p) for p in
               ("capi.cc", "ms_aot.cc", "ort/lossgrad_ort.cc", "lossgrad/core.cc", "lossgrad/core.h",
                "lossgrad/math.h")]
    for path in generic:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for op in d.OPS:
            assert re.search(rf"\b{op}\b", text) is None, (path, op)


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

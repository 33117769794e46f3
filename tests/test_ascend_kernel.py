"""The Ascend C kernel, run on simulated AI cores, against the float64 reference.

The kernel source (framework/ascend/op_kernel) is compiled against the host
stand-in of the Ascend C API (framework/ascend/sim/include/kernel_operator.h),
planned by the op_host tiling code and run core by core. Every run also checks,
inside the library: the queue/pipe synchronization protocol, UB and GM bounds,
every output element written exactly once and every streamed input element read
exactly once. Here the results are compared with framework.reference for all
reductions, dtypes (float16, bfloat16, float32), tails, core counts, UB sizes
and broadcast patterns (equal shapes, scalar inputs, general broadcasts through
the workspace), plus IEEE specials.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lossgrad_ops.framework import definitions as defs
from lossgrad_ops.framework import reference as ref
from lossgrad_ops.framework.arrays import np_dtype
from tests.helpers import assert_close, rand, stable_seed
from tests.ascend_sim import CORES_A2, DTYPES, OPS, UB_A2, sim

REDUCTIONS = ["none", "mean", "sum"]


def f64(arrays):
    return [np.asarray(a).astype(np.float64) for a in arrays]


def run_and_check(op, arrays, reduction, cores=CORES_A2, ub=UB_A2, attrs=None):
    """Run the simulated kernel, require a clean report, compare with the reference."""
    dtype = np.asarray(arrays[0]).dtype
    out, rep = sim().run(op, arrays, reduction, cores=cores, ub=ub, attrs=attrs)
    assert rep.status == 0, rep.message
    assert rep.violations == 0 and rep.truncated == 0 and rep.partial_compares == 0
    assert rep.output_unaligned == 0 and rep.input_unaligned == 0
    assert rep.ub_needed <= ub and rep.ub_used == (rep.ub_needed if sum(rep.core_elems) else 0)
    expected = ref.run(op, *f64(arrays), reduction=reduction, **(attrs or {}))  # float64, not rounded
    assert_close(out, expected, dtype)
    return out, rep


# -- the formulas of docs/SPEC.md, written out here (independent of framework.reference) ------

def _smooth_l1_g(d, beta, xp_float):
    """g(d) = d / beta where |d| < beta, else sign(d) (sign(NaN) = NaN; beta = 0: sign)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if beta == 0:
            return np.sign(d)
        return np.where(np.abs(d) < xp_float(beta), d / xp_float(beta), np.sign(d))


#: f of y = m * f(predict - label) * s per op, with the op's float attributes as keywords
F_OF = {
    "MseLossGrad": lambda d, ft: d,  # the factor 2 is the scale numerator
    "L1LossGrad": lambda d, ft: np.sign(d),
    "SmoothL1LossGrad": lambda d, ft, beta=1.0: _smooth_l1_g(d, beta, ft),
}
#: attribute values every op is run with (beyond its defaults)
ATTR_VALUES = {"SmoothL1LossGrad": [{"beta": b} for b in (0.0, 0.25, 1.0, 3.0)]}


def test_every_grad_op_has_its_formula_written_down():
    assert sorted(F_OF) == sorted(OPS)
    for op in OPS:  # every declared float attribute gets values of its own
        floats = [a.name for a in defs.OPS[op].attributes if a.type == "float"]
        assert sorted({k for v in ATTR_VALUES.get(op, []) for k in v}) == sorted(floats), op


def attr_cases(op):
    """None (the declared defaults) and the op's attribute values."""
    return [None] + ATTR_VALUES.get(op, [])


def incoming(op):
    names = defs.OPS[op].inputs
    return names.index("dout") if "dout" in names else names.index("grads")


def formula64(op, arrays, reduction, attrs=None):
    """y in float64 from the written-out formula, broadcast."""
    a = f64(arrays)
    names = defs.OPS[op].inputs
    p, l, m = a[names.index("predict")], a[names.index("label")], a[incoming(op)]
    shape = np.broadcast_shapes(*[x.shape for x in a])
    n = int(np.prod(shape))
    s = defs.OPS[op].scale_numerator / n if reduction == "mean" and n else (0.0 if reduction == "mean" else
                                                                           defs.OPS[op].scale_numerator)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.broadcast_to(m * F_OF[op](p - l, np.float64, **(attrs or {})) * s, shape)


def make(rng, shapes, dtype):
    return [rand(rng, s, np_dtype(dtype)) for s in shapes]


# -- equal shapes: every size class of tails, every core count ----------------------

SIZES = [1, 2, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 256, 257, 1000, 2047, 2048, 2049, 4097, 20003]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("op,attrs", [(op, a) for op in OPS for a in attr_cases(op)],
                         ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}{x}" for k, x in (v or {}).items()))
def test_against_the_written_out_formula(op, attrs, reduction, dtype):
    """fp32 within a few ulp of the float64 formula; half types within one rounding (their own
    ulp) of it; equal shapes, a scalar incoming gradient and general broadcasts; values spread
    around +-beta so both branches of a piecewise f occur."""
    rng = np.random.default_rng(stable_seed(op, reduction, dtype, attrs))
    for shapes in ([(4099,)] * 3, [() if k == incoming(op) else (3, 129) for k in range(3)],
                   [(17, 1, 33), (1, 5, 33), (17, 5, 1)]):
        arrays = [(rng.standard_normal(sh) * 2.5).astype(np_dtype(dtype)) for sh in shapes]
        out, _ = run_and_check(op, arrays, reduction, cores=5, attrs=attrs)
        expected = formula64(op, arrays, reduction, attrs)
        assert_close(out, expected, np.dtype(np_dtype(dtype)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("op", OPS)
def test_equal_shapes_all_sizes(op, reduction, dtype):
    rng = np.random.default_rng(stable_seed(op, reduction, dtype))
    for n in SIZES:
        arrays = make(rng, [(n,)] * 3, dtype)
        _, rep = run_and_check(op, arrays, reduction)
        tail = (n * np.dtype(np_dtype(dtype)).itemsize) % 32 != 0
        assert rep.pad_out == (1 if tail else 0), "exactly the unaligned tail goes through DataCopyPad"
        assert rep.pad_in == (3 if tail else 0)


@pytest.mark.parametrize("cores,ub", [(1, UB_A2), (2, 32 * 1024), (3, 48 * 1024), (7, 64 * 1024), (48, UB_A2)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_many_tiles_per_core_and_core_counts(op, dtype, cores, ub):
    rng = np.random.default_rng(cores * 1000 + ub)
    n = 50_001 if cores < 48 else 1_000_003
    arrays = make(rng, [(n,)] * 3, dtype)
    _, rep = run_and_check(op, arrays, "mean", cores=cores, ub=ub)
    assert rep.block_dim == cores
    assert sum(rep.core_elems) == n and max(rep.core_elems) - min(rep.core_elems) < 32
    tiles = sum(-(-c // rep.tile) for c in rep.core_elems)
    assert rep.copy_out + rep.pad_out == tiles  # one store per tile, no scalar loop


def test_results_do_not_depend_on_cores_or_tiles():
    rng = np.random.default_rng(7)
    for op, dtype in itertools.product(OPS, DTYPES):
        arrays = make(rng, [(30_011,)] * 3, dtype)
        base, _ = run_and_check(op, arrays, "sum", cores=1)
        for cores, ub in [(5, 32 * 1024), (CORES_A2, UB_A2), (48, 64 * 1024)]:
            other, _ = run_and_check(op, arrays, "sum", cores=cores, ub=ub)
            assert other.tobytes() == base.tobytes(), "bitwise identical whatever the split"


# -- broadcasting -----------------------------------------------------------------------

BROADCAST_CASES = [
    ((), (), ()),                            # N = 1: everything "full"
    ((7,), (7,), (7,)),
    ((3, 40), (3, 40), ()),                  # scalar third input (dout of MseLossGrad)
    ((), (3, 40), (3, 40)),                  # scalar first input (grads of L1LossGrad)
    ((3, 40), (), (3, 40)),                  # scalar second input
    ((), (), (5, 33)),                       # both operands of one of the ops scalar
    ((5, 33), (), ()),
    ((2, 3, 4), (4,), (3, 1)),               # differing ranks and size-1 axes
    ((5, 1, 6), (1, 4, 1), (4, 6)),          # every input broadcast
    ((1,), (2, 1, 3), (2, 5, 1)),
    ((4, 1), (1, 4), (1,)),
    ((300, 1), (1, 257), (300, 257)),        # long rows, row/column broadcasts
    ((2, 1, 2, 1, 2, 1, 2, 1), (1, 2, 1, 2, 1, 2, 1, 2), (2,)),  # rank 8
    ((1, 1, 1, 1, 1, 1, 1, 1), (), (1,)),
    ((0,), (0,), (0,)),                      # empty
    ((3, 0), (1,), ()),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shapes", BROADCAST_CASES, ids=lambda s: "x".join(map(str, s)))
def test_broadcast_patterns(shapes, op, reduction, dtype):
    rng = np.random.default_rng(stable_seed(shapes, op, reduction, dtype))
    arrays = make(rng, shapes, dtype)
    attrs = ATTR_VALUES.get(op, [None])[stable_seed(shapes) % len(ATTR_VALUES.get(op, [None]))]
    out, rep = run_and_check(op, arrays, reduction, cores=4, attrs=attrs)
    assert_close(out, formula64(op, arrays, reduction, attrs), np.dtype(np_dtype(dtype)))
    numel = [int(np.prod(s)) for s in shapes]
    n = int(np.prod(np.broadcast_shapes(*shapes)))
    for k, m in enumerate(numel):
        expected_mode = 0 if m == n else (1 if m == 1 else 2)
        assert rep.modes[k] == expected_mode
    assert (rep.workspace > 0) == (2 in rep.modes and n > 0)


def test_general_broadcast_with_small_tiles_and_many_cores():
    # rows longer than a tile and row boundaries inside core slices
    rng = np.random.default_rng(3)
    for op, dtype in itertools.product(OPS, DTYPES):
        arrays = make(rng, [(37, 1, 700), (1, 5, 700), (37, 5, 1)], dtype)
        run_and_check(op, arrays, "mean", cores=9, ub=32 * 1024)


shape_st = st.lists(st.integers(1, 6), max_size=4)


@settings(max_examples=60, deadline=None)
@given(st.lists(shape_st, min_size=3, max_size=3), st.sampled_from(OPS), st.sampled_from(REDUCTIONS),
       st.sampled_from(DTYPES), st.integers(1, 12), st.data())
def test_random_broadcasts(shapes, op, reduction, dtype, cores, data):
    try:
        out_shape = np.broadcast_shapes(*shapes)
    except ValueError:
        return
    # make one input carry the full shape now and then so every mode mix occurs
    if data.draw(st.booleans()):
        shapes[data.draw(st.integers(0, 2))] = list(out_shape)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    run_and_check(op, make(rng, shapes, dtype), reduction, cores=cores)


# -- IEEE values and rounding ---------------------------------------------------------------

SPECIALS = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 2.5, -3.0, 1e-3])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op,attrs", [(op, a) for op in OPS for a in attr_cases(op)],
                         ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}{x}" for k, x in (v or {}).items()))
def test_nan_inf_zero_propagate(op, attrs, dtype):
    a, b, c = np.meshgrid(SPECIALS, SPECIALS, SPECIALS, indexing="ij")
    arrays = [x.ravel().astype(np_dtype(dtype)) for x in (a, b, c)]
    for reduction in REDUCTIONS:
        out, _ = run_and_check(op, arrays, reduction, attrs=attrs)
        expected = formula64(op, arrays, reduction, attrs)
        np.testing.assert_array_equal(np.isnan(out.astype(np.float64)), np.isnan(expected))


def test_l1_sign_of_zero_and_nan():
    # sign(0) = 0, sign(NaN) = NaN, sign(+-Inf) = +-1, whatever the incoming gradient
    p = np.array([1.0, 2.0, np.nan, np.inf, -np.inf, 5.0, -0.0], dtype=np.float32)
    l = np.array([1.0, 3.0, 0.0, 0.0, 0.0, np.nan, 0.0], dtype=np.float32)
    g = np.full(7, 2.0, dtype=np.float32)
    out, _ = run_and_check("L1LossGrad", [g, p, l], "sum")
    np.testing.assert_array_equal(out, np.array([0.0, -2.0, np.nan, 2.0, -2.0, np.nan, 0.0], dtype=np.float32))


def test_smooth_l1_branches_exactly():
    """g(d) = d / beta inside |d| < beta, sign(d) outside and at |d| == beta, sign(0) = 0,
    sign(NaN) = NaN, sign(+-Inf) = +-1; beta = 0 is L1 (also for tiny d)."""
    p = np.array([0.5, -0.5, 1.0, -1.0, 3.0, -2.0, 0.0, np.nan, np.inf, -np.inf, 1e-30, 0.25], np.float32)
    l = np.zeros_like(p)
    m = np.full_like(p, 2.0)
    out, _ = run_and_check("SmoothL1LossGrad", [p, l, m], "sum", attrs={"beta": 1.0})
    np.testing.assert_array_equal(out, np.array([1.0, -1.0, 2.0, -2.0, 2.0, -2.0, 0.0, np.nan, 2.0, -2.0,
                                                 np.float32(2e-30), 0.5], np.float32))
    out, _ = run_and_check("SmoothL1LossGrad", [p, l, m], "sum", attrs={"beta": 0.0})
    np.testing.assert_array_equal(out, np.array([2, -2, 2, -2, 2, -2, 0, np.nan, 2, -2, 2, 2], np.float32))
    # both operands scalar: the kernel's scalar path (OnScalar) for each branch
    for beta, d, g in ((4.0, 1.0, 0.25), (0.5, 1.0, 1.0), (0.0, -3.0, -1.0), (2.0, -2.0, -1.0)):
        arrays = [np.float32(d), np.float32(0.0), np.full(70, 3.0, np.float32)]
        out, rep = run_and_check("SmoothL1LossGrad", arrays, "none", attrs={"beta": beta})
        assert rep.modes == (1, 1, 0)
        np.testing.assert_array_equal(out, np.full(70, 3.0 * g, np.float32))


@pytest.mark.parametrize("op", OPS)
def test_declared_attributes_change_the_result(op):
    """Each float attribute value reaches the kernel: results differ between values where the
    formula says they do (and the attribute is not silently replaced by its default)."""
    rng = np.random.default_rng(stable_seed(op, "attrs"))
    arrays = [(rng.standard_normal(512) * 2).astype(np.float32) for _ in range(3)]
    results = {}
    for attrs in attr_cases(op):
        out, _ = run_and_check(op, arrays, "none", attrs=attrs)
        key = tuple(sorted((attrs or {}).items()))
        results[key] = out
        assert_close(out, formula64(op, arrays, "none", attrs), np.float32)
    distinct = {r.tobytes() for r in results.values()}
    expected_distinct = {formula64(op, arrays, "none", dict(k)).astype(np.float32).tobytes() for k in results}
    assert len(distinct) == len(expected_distinct)


@pytest.mark.parametrize("op", [op for op in OPS if ATTR_VALUES.get(op)])
def test_bad_attribute_values_fail_before_the_kernel_runs(op):
    for name in {k for v in ATTR_VALUES[op] for k in v}:
        a = next(x for x in defs.OPS[op].attributes if x.name == name)
        for value in (float("nan"), -1.0, -1e-30):
            with pytest.raises(ValueError) as err:
                a.check(value, op)
            out, rep = sim().run(op, [np.ones(8, np.float32)] * 3, "mean", attrs={name: value})
            assert out is None and rep.status == 1 and rep.message == str(err.value)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_types_overflow_to_inf_not_max(dtype):
    # fp32 math, one rounding on store, hardware saturation switched off:
    # 2 * 6e4 * 10 overflows float16 -> inf (a saturating store would give 65504)
    big = 60000.0 if dtype == "float16" else 3e38
    p = np.array([10.0, -10.0, 1.0], dtype=np.float32).astype(np_dtype(dtype))
    l = np.zeros(3, dtype=np.float32).astype(np_dtype(dtype))
    d = np.array([big, big, np.nan], dtype=np.float32).astype(np_dtype(dtype))
    out, _ = run_and_check("MseLossGrad", [p, l, d], "sum")
    vals = out.astype(np.float64)
    assert vals[0] == np.inf and vals[1] == -np.inf and np.isnan(vals[2])


def fp32_then_rounded_once(op, arrays, reduction, attrs=None):
    """docs/SPEC.md's precision rule for half types, computed independently: the formula in float32
    (NumPy float32 arithmetic rounds each step to nearest even), in the kernel's order
    ``f(a - b) * m * s`` with ``s`` computed in double and rounded once to float32,
    then one round-to-nearest-even cast to the half type (NumPy for float16, ml_dtypes for bfloat16)."""
    dtype = np.asarray(arrays[0]).dtype
    a = [np.asarray(x).astype(np.float32) for x in arrays]  # exact widening
    spec = defs.OPS[op]
    p, l = a[spec.inputs.index("predict")], a[spec.inputs.index("label")]
    m = a[incoming(op)]
    shape = np.broadcast_shapes(*[x.shape for x in a])
    n = int(np.prod(shape))
    d = np.subtract(p, l, dtype=np.float32)
    d = F_OF[op](d, np.float32, **(attrs or {})).astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        r = np.multiply(d, m, dtype=np.float32)
        r = np.multiply(r, np.float32(spec.scale(reduction, n)), dtype=np.float32)
        return np.broadcast_to(r, shape).astype(dtype)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_types_are_computed_in_fp32_and_rounded_once(dtype):
    # Every result must be bitwise the float32 result rounded once to the dtype, which
    # half-precision arithmetic (or a second rounding) would miss; no exception allowed.
    rng = np.random.default_rng(11)
    cases = [make(rng, [(4099,)] * 3, dtype),
             make(rng, [(257, 33), (33,), (257, 1)], dtype),          # general broadcasts
             [x * np.asarray(k, np_dtype(dtype)) for x, k in              # wide exponent range
              zip(make(rng, [(2048,)] * 3, dtype), (1e-3, 7.0, 300.0))]]
    runs = [(op, attrs) for op in OPS for attrs in attr_cases(op)]
    for arrays, (op, attrs), reduction in itertools.product(cases, runs, REDUCTIONS):
        out, _ = run_and_check(op, arrays, reduction, attrs=attrs)
        once = fp32_then_rounded_once(op, arrays, reduction, attrs)
        bad = np.flatnonzero(out.view(np.uint16).ravel() != once.view(np.uint16).ravel())
        assert bad.size == 0, (f"{op} {attrs} {reduction}: {bad.size} of {out.size} results not the fp32 result "
                               f"rounded once, e.g. {out.ravel()[bad[:3]]} vs {once.ravel()[bad[:3]]}")


def test_mean_scale_for_large_counts_is_not_zero():
    # The seeds held N in fp16: gradients vanished above 65504 elements.
    rng = np.random.default_rng(5)
    for dtype in DTYPES:
        arrays = make(rng, [(70_001,)] * 3, dtype)
        out, rep = run_and_check("MseLossGrad", arrays, "mean")
        assert rep.scale == 2 / 70_001 and np.count_nonzero(out.astype(np.float64)) > 0.99 * out.size


def test_mixed_dtypes_and_float64_are_refused():
    # The NPU kernel takes one dtype among float16, bfloat16, float32 (the graph casts to the
    # promoted dtype first): op_host's InferDataType and TilingFunc refuse every other combination.
    s = sim()
    for op, dtypes in itertools.product(OPS, itertools.product(DTYPES + ("float64",), repeat=3)):
        accepted = len(set(dtypes)) == 1 and dtypes[0] in DTYPES
        assert (s.cann_tiling(op, [(4,)] * 3, list(dtypes), "sum")[0] == 1) == accepted, (op, dtypes)
        if len(set(dtypes)) > 1:
            assert s.cann_infer_dtype(op, list(dtypes)) == (False, None), (op, dtypes)
        else:
            assert s.cann_infer_dtype(op, list(dtypes)) == (True, s.cann_dtype(dtypes[0])), (op, dtypes)


# -- against PyTorch (the test extra), for the ops with attributes -----------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", [op for op in OPS if len(defs.OPS[op].attributes) > 1])
def test_ops_with_attributes_match_pytorch(op, dtype):
    """The kernel on the stand-in against torch (float64 F.<loss> and autograd) on the inputs it
    saw: every declared attribute value of ATTR_VALUES, every reduction, broadcasting; the float
    attributes travel in fp32 through the tiling data, so the oracle gets their fp32 values."""
    from tests.helpers import torch_oracle
    rng = np.random.default_rng(stable_seed("torch", op, dtype))
    shapes = ((4, 1, 33), (5, 33), (4, 5, 1))
    for attrs in ATTR_VALUES[op]:
        for red in defs.REDUCTIONS:
            arrays = [rng.uniform(-3, 3, s).astype(np_dtype(dtype)) for s in shapes]
            out, rep = sim().run(op, arrays, red, attrs=attrs)
            assert rep.status == 0, rep.message
            as32 = {k: float(np.float32(v)) for k, v in attrs.items()}
            assert_close(out, torch_oracle(op, f64(arrays), red, **as32), np_dtype(dtype))

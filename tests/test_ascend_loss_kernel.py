"""The Ascend C kernel of the loss ops (MseLoss, L1Loss, SmoothL1Loss), run on simulated AI cores.

The same kernel template as the grad ops (framework/ascend/op_kernel/lossgrad_kernel.h) with each
family's forward compute part: "none" is elementwise (tiles, broadcasting, double buffering and
padded tails like the grad kernels); "mean"/"sum" reduce on every core into a per-core partial in
the workspace, the cores meet in SyncAll, and core 0 adds the partials in core order. The
stand-in runs every core on its own thread and switches cores at SyncAll, and every run checks the
pipe-synchronisation protocol, UB and GM bounds, that each core writes its partial slot exactly
once, that core 0 reads all of them once and only after SyncAll, and that the output is written
exactly once. Results are compared with the float64 formulas written out here and with
framework.reference.
"""
from __future__ import annotations

import numpy as np
import pytest

from lossgrad_ops.framework import definitions as defs
from lossgrad_ops.framework import reference as ref
from lossgrad_ops.framework.arrays import np_dtype
from tests.helpers import assert_close, stable_seed
from tests.ascend_sim import CORES_A2, DTYPES, LOSS_OPS, UB_A2, sim

REDUCTIONS = ["none", "mean", "sum"]
SIZE = {"float16": 2, "bfloat16": 2, "float32": 4}


# -- the elementwise losses of docs/SPEC.md, written out here (independent of framework.reference) --

def _smooth_l1(d, beta=1.0):
    a = np.abs(d)
    if beta == 0:
        return a
    with np.errstate(invalid="ignore"):
        return np.where(a < beta, 0.5 * d * d / beta, a - 0.5 * beta)


E_OF = {
    "MseLoss": lambda d: d * d,
    "L1Loss": np.abs,
    "SmoothL1Loss": _smooth_l1,
}
#: attribute values every op is run with (beyond its defaults)
ATTR_VALUES = {"SmoothL1Loss": [{"beta": b} for b in (0.0, 0.25, 1.0, 3.0)]}


def test_every_loss_op_has_its_formula_written_down():
    assert sorted(E_OF) == sorted(LOSS_OPS) == sorted(op.name for op in defs.OPS.values() if op.kind == "loss")
    for op in LOSS_OPS:
        floats = [a.name for a in defs.OPS[op].attributes if a.type == "float"]
        assert sorted({k for v in ATTR_VALUES.get(op, []) for k in v}) == sorted(floats), op


def attr_cases(op):
    return [None] + ATTR_VALUES.get(op, [])


def formula64(op, arrays, reduction, attrs=None):
    p, l = (np.asarray(a).astype(np.float64) for a in arrays)
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.broadcast_to(E_OF[op](p - l, **(attrs or {})), np.broadcast_shapes(p.shape, l.shape))
        if reduction == "none":
            return e
        if reduction == "sum":
            return np.float64(e.sum())
        return np.float64(e.mean()) if e.size else np.float64(np.nan)


def run_loss(op, arrays, reduction, cores=CORES_A2, ub=UB_A2, attrs=None):
    """Run the simulated kernel, require a clean report, compare with both float64 references."""
    dtype = np.dtype(np.asarray(arrays[0]).dtype)
    out, rep = sim().run(op, arrays, reduction, cores=cores, ub=ub, attrs=attrs)
    assert rep.status == 0, rep.message
    assert rep.violations == 0 and rep.truncated == 0 and rep.partial_compares == 0
    assert rep.output_unaligned == 0 and rep.input_unaligned == 0
    assert rep.ub_needed <= ub
    n = int(np.prod(np.broadcast_shapes(*[np.shape(a) for a in arrays])))
    terms = 1 if reduction == "none" else 16
    expected = formula64(op, arrays, reduction, attrs)
    assert_close(out, expected, dtype, reduction_terms=terms)
    with np.errstate(invalid="ignore", over="ignore"):
        other = ref.run(op, *[np.asarray(a).astype(np.float64) for a in arrays], reduction=reduction, **(attrs or {}))
    if not (reduction == "mean" and n == 0):  # (the reference's mean of nothing is checked below)
        assert_close(out, np.asarray(other, np.float64), dtype, reduction_terms=terms)
    return out, rep


def spread(rng, shape, dtype, scale=2.5):
    """Values around +-beta (both branches of SmoothL1), no exact zeros needed."""
    return (rng.standard_normal(shape) * scale).astype(np_dtype(dtype))


# -- every size class of tails and cores, every reduction and dtype -------------------------

SIZES = [1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 256, 257, 1000, 2047, 2048, 2049, 4097, 20003]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("op,attrs", [(op, a) for op in LOSS_OPS for a in attr_cases(op)],
                         ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}{x}" for k, x in (v or {}).items()))
def test_equal_shapes_all_sizes(op, attrs, reduction, dtype):
    rng = np.random.default_rng(stable_seed(op, reduction, dtype, attrs))
    for n in SIZES:
        arrays = [spread(rng, (n,), dtype) for _ in range(2)]
        out, rep = run_loss(op, arrays, reduction, attrs=attrs)
        tail = (n * SIZE[dtype]) % 32 != 0
        assert rep.pad_in == (2 if tail else 0), "exactly the unaligned tail is read through DataCopyPad"
        if reduction == "none":
            assert rep.pad_out == (1 if tail else 0) and out.shape == (n,)
        else:
            assert out.shape == () and rep.pad_out == 1  # the one result element
            assert rep.core_elems[0] == 1 and sum(rep.core_elems) == 1  # core 0 stores it


@pytest.mark.parametrize("cores,ub", [(1, UB_A2), (2, 32 * 1024), (3, 48 * 1024), (7, 64 * 1024), (13, 24 * 1024),
                                      (CORES_A2, UB_A2), (48, 32 * 1024)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", LOSS_OPS)
def test_many_tiles_per_core_and_core_counts(op, dtype, cores, ub):
    rng = np.random.default_rng(stable_seed(op, dtype, cores, ub))
    n = 60_001 if cores < 48 else 400_003
    arrays = [spread(rng, (n,), dtype) for _ in range(2)]
    for reduction in REDUCTIONS:
        _, rep = run_loss(op, arrays, reduction, cores=cores, ub=ub)
        assert rep.block_dim == min(cores, -(-n * SIZE[dtype] // 2048))
        if reduction == "none":
            assert sum(rep.core_elems) == n
        if ub <= 64 * 1024:
            assert 2 * rep.tile < n // rep.block_dim, "several tiles per core"


@pytest.mark.parametrize("op", LOSS_OPS)
def test_core_boundaries(op):
    """Sizes one block around every core boundary of a 5-core split, in all dtypes."""
    for dtype in DTYPES:
        block = 32 // SIZE[dtype]
        rng = np.random.default_rng(stable_seed(op, dtype, "bounds"))
        for blocks in (5 * 64 - 1, 5 * 64, 5 * 64 + 1, 5 * 64 * 3 + 2):
            for extra in (-1, 0, 1):
                n = blocks * block + extra
                arrays = [spread(rng, (n,), dtype) for _ in range(2)]
                for reduction in REDUCTIONS:
                    run_loss(op, arrays, reduction, cores=5)


# -- broadcasting: scalar operands and general broadcasts through the workspace ----------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op,attrs", [(op, a) for op in LOSS_OPS for a in attr_cases(op)],
                         ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}{x}" for k, x in (v or {}).items()))
def test_broadcast_inputs(op, attrs, dtype):
    rng = np.random.default_rng(stable_seed(op, dtype, attrs, "bcast"))
    for shapes, modes in [([(3, 4099), ()], (0, 1)), ([(), (6, 701)], (1, 0)),
                          ([(17, 1, 33), (1, 5, 33)], (2, 2)), ([(40, 257), (257,)], (0, 2))]:
        arrays = [spread(rng, sh, dtype) for sh in shapes]
        for reduction in REDUCTIONS:
            _, rep = run_loss(op, arrays, reduction, cores=6, attrs=attrs)
            assert rep.modes == modes + (3,), rep.modes  # the absent third input is never read


# -- reductions: the combine, empty inputs, IEEE specials ----------------------------------------

def exact_case(n, dtype, seed):
    """Inputs whose MseLoss / L1Loss terms are small integers: every partial and the total are
    exact in fp32 whatever the order, so a partial dropped or added twice changes the result."""
    rng = np.random.default_rng(seed)
    p = rng.integers(-3, 4, size=n).astype(np_dtype(dtype))
    p[p == 0] = 2  # every core's partial is > 0
    return [p, np.zeros(n, np_dtype(dtype))]


@pytest.mark.parametrize("cores", [1, 2, 3, 5, 8, 16, 40, 48])
@pytest.mark.parametrize("op", ["MseLoss", "L1Loss"])
def test_the_combine_adds_every_partial_once(op, cores):
    for dtype in DTYPES:
        for n in (97, 30_011, 400_003):
            arrays = exact_case(n, dtype, stable_seed(op, cores, n))
            e = E_OF[op](arrays[0].astype(np.float64))
            out, rep = run_loss(op, arrays, "sum", cores=cores)
            with np.errstate(over="ignore"):  # (an fp16 sum beyond 65504 is Inf)
                exact = np.asarray(e.sum()).astype(np_dtype(dtype))  # the exact sum rounded once to the dtype
            assert out.tobytes() == exact.tobytes(), (dtype, n, rep.block_dim, out, e.sum())
            run_loss(op, arrays, "mean", cores=cores)  # within the dtype's rounding of the exact mean


@pytest.mark.parametrize("op", LOSS_OPS)
def test_reduction_is_deterministic_for_a_core_count(op):
    """Same inputs, same core count and UB: bitwise the same result (the partials are added in
    core order, each core sums its slice in a fixed order)."""
    rng = np.random.default_rng(stable_seed(op, "determinism"))
    for dtype in DTYPES:
        arrays = [spread(rng, (123_457,), dtype) for _ in range(2)]
        for cores in (3, CORES_A2, 48):
            for reduction in ("sum", "mean"):
                first, _ = run_loss(op, arrays, reduction, cores=cores)
                for _ in range(2):
                    again, _ = run_loss(op, arrays, reduction, cores=cores)
                    assert again.tobytes() == first.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", LOSS_OPS)
def test_empty_input(op, dtype):
    """No element: sum 0, mean NaN (as torch), none an empty result."""
    for shapes in ([(0,), (0,)], [(0, 5), (5,)], [(3, 0), ()]):
        arrays = [np.zeros(sh, np_dtype(dtype)) for sh in shapes]
        out, _ = run_loss(op, arrays, "sum")
        assert out.shape == () and out.astype(np.float64) == 0.0 and not np.signbit(out.astype(np.float64))
        out, _ = run_loss(op, arrays, "mean")
        assert out.shape == () and np.isnan(out.astype(np.float64))
        assert float(ref.run(op, *arrays, reduction="mean")) != float(ref.run(op, *arrays, reduction="mean"))
        out, _ = run_loss(op, arrays, "none")
        assert out.shape == np.broadcast_shapes(*shapes)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", LOSS_OPS)
def test_nan_and_inf(op, dtype):
    rng = np.random.default_rng(stable_seed(op, dtype, "ieee"))
    n = 9_001
    for special, where in ((np.nan, 17), (np.inf, 8_999), (-np.inf, 4_500)):
        p, l = (spread(rng, (n,), dtype) for _ in range(2))
        p[where] = special
        for reduction in REDUCTIONS:
            out, _ = run_loss(op, [p, l], reduction, cores=7)
            if reduction != "none":
                v = out.astype(np.float64)
                assert np.isnan(v) if np.isnan(special) else v == np.inf
    # inf - inf is NaN
    p = spread(rng, (n,), dtype)
    l = p.copy()
    p[3], l[3] = np.inf, np.inf
    out, _ = run_loss(op, [p, l], "sum", cores=7)
    assert np.isnan(out.astype(np.float64))


# -- data movement beyond 2^32 elements (dry runs: no memory behind GM) --------------------------

@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("op", ["MseLoss", "SmoothL1Loss"])
def test_dry_run_beyond_2_pow_32(op, reduction, dtype):
    s = sim()
    n = 2**32 + 77
    for shapes in ([(n,), (n,)], [(n,), ()]):
        _, rep = s.run(op, shapes, reduction, cores=48, dtype=dtype, dry=True)
        # includes: the output written once, streamed inputs read once, each partial slot written
        # once and read once after SyncAll
        assert rep.status == 0, rep.message
        assert rep.block_dim == 48 and rep.truncated == 0 and rep.partial_compares == 0
        assert rep.output_unaligned == 0 and rep.input_unaligned == 0
        assert rep.ub_used == rep.ub_needed <= UB_A2
        if reduction == "none":
            assert sum(rep.core_elems) == n
        else:
            assert rep.core_elems[:1] == [1] and sum(rep.core_elems) == 1

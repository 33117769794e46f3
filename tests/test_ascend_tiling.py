"""Tiling of the Ascend op package, checked on the CPU (no data, any size).

The plan is computed by op_host/lossgrad_tiling_plan.h (the code op_host's
TilingFunc runs) and the per-core split by the kernel's own formula
(LossGradCoreSlice). For every op and dtype and sizes from 0 to beyond 2^32
elements: every element covered exactly once, cores balanced and all used for
large inputs, the unified-buffer budget (derived from the UB size) holds, core
and tile starts 32-byte aligned, only the global tail needs padding, the scale
computed in double from the 64-bit N. Then the real kernel runs "dry" (index
and data-movement logic only) on simulated cores at 2^32+ elements.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lossgrad_ops.framework import definitions as defs
from lossgrad_ops.framework.arrays import np_dtype
from tests.helpers import stable_seed
from tests.ascend_sim import CORES_A2, DTYPES, OPS, UB_A2, sim

SIZE = {"float16": 2, "bfloat16": 2, "float32": 4}
SIZES = [0, 1, 2, 7, 8, 15, 16, 17, 31, 63, 64, 255, 256, 257, 1000, 2047, 2048, 2049, 4095, 4096, 6143, 6144,
         6145, 65535, 65536, 65537, 10**6 + 3, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**32 + 77,
         3 * 2**32 + 5, 2**40 + 3, 2**50 + 1]
PLATFORMS = [(1, UB_A2), (2, UB_A2), (7, UB_A2), (CORES_A2, UB_A2), (48, UB_A2), (24, 64 * 1024)]
SELECT_RESERVE = 8192       # UB bytes Select needs left free on Atlas A2/A3 (the sign of L1 / SmoothL1)
MAX_COPY_BYTES = 2097151    # DataCopyPad's blockLen range is [1, 2^21 - 1] bytes

#: what each op's elementwise function needs beyond the difference, from the kernel design
#: (README "How the kernel works"): fp32 scratch tiles and whether it selects (a compare mask
#: of one bit per element, and Select's reserve). MseLossGrad: f is the identity; L1LossGrad:
#: sign via two Compares/Select into a constant tile and a result tile; SmoothL1LossGrad: the
#: same sign, then d / beta in the constant tile and one more Compares/Select.
KERNEL_NEEDS = {"MseLossGrad": (0, False), "L1LossGrad": (2, True), "SmoothL1LossGrad": (2, True)}


def test_every_declared_grad_op_has_its_kernel_needs_written_down():
    assert sorted(KERNEL_NEEDS) == sorted(OPS)


def reserve_of(op):
    return SELECT_RESERVE if KERNEL_NEEDS[op][1] else 0


def ub_bytes_model(op, dtype, queue_inputs, tile):
    """Unified-buffer bytes of the kernel's buffers for a tile, written out from its design
    (not from the planner's code): double-buffered queues of the dtype for every non-scalar input
    and the output; fp32 work buffers for the computation (half types: the difference and the
    second operand, the second one lent to f as its first scratch tile; float32 works in place
    and needs only f's scratch tiles); the compare mask of a selecting f, one bit per element.
    test_ub_model_is_what_the_kernel_allocates ties it to the simulated TPipe."""
    scratch, selects = KERNEL_NEEDS[op]
    work = 2 + max(scratch - 1, 0) if dtype != "float32" else scratch
    mask = tile // 8 if selects else 0
    return (queue_inputs + 1) * 2 * tile * SIZE[dtype] + work * tile * 4 + mask


def incoming_gradient(op):
    """Index of the op's incoming-gradient input (dout, or L1LossGrad's grads: first in CANN order)."""
    names = defs.OPS[op].inputs
    return names.index("dout") if "dout" in names else names.index("grads")


def shapes_for(op, n, pattern="equal"):
    """Input shapes (CANN order) whose broadcast has n elements."""
    full = (n,)
    if pattern == "equal":
        return [full, full, full]
    # scalar incoming gradient
    return [() if k == incoming_gradient(op) else full for k in range(3)]


def check_plan(op, dtype, n, cores, ub, pattern="equal"):
    s = sim()
    plan = s.plan(op, dtype, shapes_for(op, n, pattern), "mean", cores=cores, ub=ub)
    assert plan.ok, plan.message
    t = plan.tiling
    size = SIZE[dtype]
    align = 32 // size
    assert t["totalLength"] == n and t["alignElems"] == align
    assert plan.out_shape == (n,)

    # -- cores: all used for big inputs, balanced, 32-byte aligned starts --------------
    used = t["usedCores"]
    assert used == plan.block_dim and 1 <= used <= cores
    min_blocks = s.constant("min_blocks_per_core")
    if n >= cores * min_blocks * align:
        assert used == cores, "a large input must use every AI core"
    slices = [s.core_slice(plan.raw_tiling, c) for c in range(used)]
    at = 0
    for start, count in slices:
        assert start == at, "core slices must tile [0, N) in order, exactly once"
        assert (start * size) % 32 == 0, "every core starts on a 32-byte boundary"
        if n:
            assert count > 0, "no launched core is idle"
        at += count
    assert at == n
    counts = [c for _, c in slices]
    assert max(counts) - min(counts) < 2 * align, "cores are balanced within one 32-byte block (+ the tail)"
    for _, count in slices[:-1]:
        assert (count * size) % 32 == 0, "only the last core may end on a partial block"

    # -- tile size: derived from the UB size and dtype, budget holds --------------------
    tile = t["tileLength"]
    unit = s.constant("tile_align_elems")
    assert tile >= unit and tile % unit == 0
    assert (tile * 4) % 256 == 0, "fp32 compares work on whole 256-byte repeats"
    queue_inputs = sum(1 for m in plan.modes if m != 1)
    reserve = reserve_of(op)
    assert plan.ub_needed == ub_bytes_model(op, dtype, queue_inputs, tile)
    assert plan.ub_needed + reserve <= ub, "the unified-buffer budget must hold"
    assert tile * size <= MAX_COPY_BYTES
    largest = max(counts) if counts else 0
    if tile < math.ceil(max(largest, 1) / unit) * unit:
        # not capped by the slice: the largest tile that fits (one more unit would not, in
        # the UB or in one copy)
        assert (ub_bytes_model(op, dtype, queue_inputs, tile + unit) + reserve > ub
                or (tile + unit) * size > MAX_COPY_BYTES)

    # -- tiles inside each core: aligned starts; only the global tail is padded --------
    # (tile i of a core starts at start + i * tile; only its last tile can be short)
    assert (tile * size) % 32 == 0
    padded = 0
    for start, count in slices:
        last = count - (-(-count // tile) - 1) * tile if count else 0
        padded += (last * size) % 32 != 0
    assert padded == (1 if (n * size) % 32 else 0)

    # -- scale: double from the 64-bit N, rounded once to float --------------------------
    numer = defs.OPS[op].scale_numerator
    if n:
        assert plan.scale == numer / n
        assert t["scale"] == np.float32(numer / n)
        assert t["scale"] > 0 and abs(t["scale"] * n / numer - 1) < 2.0 ** -23
    return plan


@pytest.mark.parametrize("cores,ub", PLATFORMS, ids=lambda v: str(v))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_tiling_covers_balances_and_fits(op, dtype, cores, ub):
    for n in SIZES:
        check_plan(op, dtype, n, cores, ub)
        check_plan(op, dtype, n, cores, ub, pattern="scalar_grad")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_ub_model_is_what_the_kernel_allocates(op, dtype):
    """The simulated TPipe counts the bytes the kernel's InitBuffer calls take: they are the model's,
    for every number of queued (non-scalar) inputs."""
    rng = np.random.default_rng(stable_seed(op, dtype))
    for shapes in ([(3000,)] * 3, [(3000,), (3000,), ()], [(3000,), (), ()], [(), (), ()]):
        arrays = [rng.uniform(0.5, 2.0, size=sh).astype(np_dtype(dtype)) for sh in shapes]
        for cores, ub in ((1, 32 * 1024), (4, UB_A2)):
            _, rep = sim().run(op, arrays, "sum", cores=cores, ub=ub)
            assert rep.status == 0, rep.message
            queued = sum(1 for m in rep.modes if m != 1)
            assert rep.ub_used == ub_bytes_model(op, dtype, queued, rep.tile), (shapes, cores, ub)
            assert rep.ub_used + reserve_of(op) <= ub
            assert rep.max_copy_bytes <= MAX_COPY_BYTES


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_tile_grows_with_the_unified_buffer_and_shrinks_with_the_dtype(op, dtype):
    n = 10**8
    small = check_plan(op, dtype, n, CORES_A2, 64 * 1024).tiling["tileLength"]
    big = check_plan(op, dtype, n, CORES_A2, UB_A2).tiling["tileLength"]
    assert big > 2 * small
    if dtype != "float32":
        assert big > check_plan(op, "float32", n, CORES_A2, UB_A2).tiling["tileLength"]


def test_scalar_inputs_free_their_queues():
    # A scalar dout/grads needs no double-buffered queue: the tile gets longer.
    for op in OPS:
        eq = check_plan(op, "float32", 10**7, CORES_A2, UB_A2)
        sc = check_plan(op, "float32", 10**7, CORES_A2, UB_A2, pattern="scalar_grad")
        assert sc.tiling["tileLength"] > eq.tiling["tileLength"]


def test_scale_for_every_reduction():
    s = sim()
    for op, red, n in itertools.product(OPS, defs.REDUCTIONS, [1, 3, 65504, 65505, 2**24 + 1, 2**32 + 3]):
        plan = s.plan(op, "float16", [(n,), (n,), (n,)], red)
        expected = defs.OPS[op].scale(red, n)  # the Python definition, in double
        assert plan.ok and plan.scale == expected
        assert plan.tiling["scale"] == np.float32(expected)
        assert plan.tiling["scale"] != 0.0  # the seeds' fp16 element count gave 0 above 65504


def test_default_reduction_is_mean():
    plan = sim().plan("MseLossGrad", "float32", [(10,), (10,), (10,)], None)
    assert plan.ok and plan.scale == 2 / 10


@pytest.mark.parametrize("value", ["foo", "", "Mean", "SUM", "0", "1", "sum ", "none\n", "it's", "a\\b\t"])
@pytest.mark.parametrize("op", OPS)
def test_unknown_reduction_is_rejected_at_tiling_time(op, value):
    plan = sim().plan(op, "float32", [(4,), (4,), (4,)], value)
    assert not plan.ok
    assert plan.message == defs.MESSAGES["bad_reduction"].format(op=op, value=repr(value))


def test_reduction_is_checked_before_shapes():
    plan = sim().plan("L1LossGrad", "float32", [(2,), (3,), (4,)], "bad")
    assert not plan.ok and "reduction" in plan.message


@pytest.mark.parametrize("op", OPS)
def test_bad_shapes_are_rejected_with_the_shared_messages(op):
    s = sim()
    names = defs.OPS[op].inputs
    shapes = [(2, 3), (4,), (3,)]
    plan = s.plan(op, "float32", shapes, "sum")
    with pytest.raises(ValueError) as err:
        defs.broadcast_shapes(dict(zip(names, shapes)), op)
    assert not plan.ok and plan.message == str(err.value)
    plan = s.plan(op, "float32", [(1,) * 9, (), ()], "sum")
    assert not plan.ok
    assert plan.message == defs.MESSAGES["bad_rank"].format(op=op, arg=names[0], rank=9)
    # a dim below -1 is neither a size nor "unknown": the shared negative_dim message, naming the input
    plan = s.plan(op, "float32", [(3,), (2, -2), (3,)], "sum")
    assert not plan.ok and plan.message == defs.MESSAGES["negative_dim"].format(op=op, arg=names[1])
    plan = s.plan(op, "float32", [(3,), (2, -1), (3,)], "sum")  # unknown: fine to broadcast, not to tile
    assert not plan.ok and plan.message == f"{op}: tiling needs known shapes; got {names[1]} (2, -1)"


def test_unsupported_dtype_and_tiny_unified_buffer_are_errors():
    s = sim()
    plan = s.plan("MseLossGrad", "float64", [(4,), (4,), (4,)], "sum")
    assert not plan.ok and "float16, bfloat16, float32" in plan.message
    plan = s.plan("L1LossGrad", "float32", [(4,), (4,), (4,)], "sum", ub=8192)
    assert not plan.ok and "too small" in plan.message
    plan = s.plan("MseLossGrad", "float32", [(2**31, 2**31, 2), (), ()], "sum")
    assert not plan.ok and "2^62" in plan.message


# -- broadcast plans ---------------------------------------------------------------------

def test_input_modes_and_coalesced_strides():
    s = sim()
    plan = s.plan("MseLossGrad", "float32", [(2, 3, 4), (4,), (3, 1)], "mean")
    assert plan.modes == (0, 2, 2)  # full, broadcast, broadcast
    t = plan.tiling
    assert t["bcastRank"] == 3 and t["outDims"][:3] == [2, 3, 4]
    assert t["strides1"][:3] == [0, 0, 1] and t["strides2"][:3] == [0, 1, 0]
    assert plan.workspace == 2 * math.ceil(24 * 4 / 512) * 512
    # size-1 axes vanish and neighbours broadcast alike merge
    plan = s.plan("L1LossGrad", "float16", [(5, 1, 6, 7), (5, 1, 6, 7), (1, 1, 6, 7)], "sum")
    assert plan.modes == (0, 0, 2)
    assert plan.tiling["bcastRank"] == 2 and plan.tiling["outDims"][:2] == [5, 42]
    assert plan.tiling["strides2"][:2] == [0, 1]
    # scalars (one element) are no broadcast: no workspace
    plan = s.plan("L1LossGrad", "bfloat16", [(1, 1), (6, 7), ()], "sum")
    assert plan.modes == (1, 0, 1) and plan.workspace == 0


dims = st.one_of(st.just(1), st.just(-1), st.integers(0, 5))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(dims, max_size=5), min_size=3, max_size=3), st.sampled_from(OPS))
def test_infershape_broadcast_matches_definitions(shapes, op):
    ok, got = sim().broadcast(op, shapes)
    try:
        expected = defs.broadcast_shapes(dict(zip(defs.OPS[op].inputs, shapes)), op)
    except ValueError as err:
        assert not ok and got == str(err)
    else:
        assert ok and got == expected


# -- the kernel's own data movement at 2^32+ elements (dry runs) ------------------------

HUGE = [
    ("MseLossGrad", [(2**32 + 77,)] * 3),
    ("L1LossGrad", [(), (2**32 + 77,), (2**32 + 77,)]),       # scalar grads
    ("MseLossGrad", [(2**32 + 64,), (2**32 + 64,), ()]),       # aligned end: no padding
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op,shapes", HUGE, ids=["mse-equal", "l1-scalar-grads", "mse-aligned"])
def test_dry_run_beyond_2_pow_32(op, shapes, dtype):
    s = sim()
    _, rep = s.run(op, shapes, "mean", cores=48, dtype=dtype, dry=True)
    assert rep.status == 0, rep.message  # includes: every output byte written once, inputs read once
    n = max(int(np.prod(sh)) for sh in shapes)
    size = SIZE[dtype]
    plan = s.plan(op, dtype, shapes, "mean", cores=48)
    assert rep.block_dim == 48 and sum(rep.core_elems) == n
    assert rep.core_elems == [s.core_slice(plan.raw_tiling, c)[1] for c in range(48)]
    assert rep.truncated == 0 and rep.partial_compares == 0
    assert rep.output_unaligned == 0 and rep.input_unaligned == 0
    assert rep.ub_used == rep.ub_needed <= UB_A2
    tail = (n * size) % 32 != 0
    streamed = sum(1 for m in rep.modes if m == 0)
    assert rep.pad_out == (1 if tail else 0) and rep.pad_in == (streamed if tail else 0)


def test_dry_run_general_broadcast_beyond_2_pow_32():
    # rows of 65537 elements: label broadcast along the rows, dout along the columns
    shapes = [(65536, 65537), (65537,), (65536, 1)]
    _, rep = sim().run("MseLossGrad", shapes, "sum", cores=48, dtype="float16", dry=True)
    assert rep.status == 0, rep.message  # workspace copies written once, then read once
    assert rep.modes == (0, 2, 2) and rep.workspace >= 2 * 2 * 65536 * 65537
    assert sum(rep.core_elems) == 65536 * 65537


# -- declared attributes in the tiling data ------------------------------------------------

def float_attrs(op):
    """(declared index, Attribute) of the op's float attributes."""
    return [(i, a) for i, a in enumerate(defs.OPS[op].attributes) if a.type == "float"]


FLOAT_ATTR_OPS = [op for op in OPS if float_attrs(op)]


def test_some_declared_grad_op_has_a_float_attribute():
    assert FLOAT_ATTR_OPS  # else the tests below check nothing


@pytest.mark.parametrize("op", OPS)
def test_tiling_carries_the_declared_float_attributes(op):
    """Every float attribute reaches the tiling data in fp32, in declaration order (slot k for
    the k-th float attribute), its default when not given; unused slots stay 0."""
    s = sim()
    floats = float_attrs(op)
    plan = s.plan(op, "float32", [(100,)] * 3, "sum")
    assert plan.ok, plan.message
    slots = plan.tiling["attrs"]
    assert slots[:len(floats)] == [np.float32(a.default) for _, a in floats]
    assert all(v == 0.0 for v in slots[len(floats):])
    for k, (_, a) in enumerate(floats):
        for value in (0.0, 0.25, 3.0, 1e-30, 12345.678):
            plan = s.plan(op, "float16", [(100,)] * 3, "mean", attrs={a.name: value})
            assert plan.ok, plan.message
            assert plan.tiling["attrs"][k] == np.float32(value)


@pytest.mark.parametrize("op", FLOAT_ATTR_OPS)
def test_bad_float_attributes_are_rejected_at_tiling_time(op):
    """NaN or a value below the declared minimum: the plan fails with the message the
    Python rule (framework/rules.py, the attribute's own check) raises."""
    s = sim()
    for _, a in float_attrs(op):
        bad = [float("nan"), float("-inf")] + ([a.minimum - 1.0, a.minimum - 1e-6, -0.5]
                                                if a.minimum is not None else [])
        for value in bad:
            with pytest.raises(ValueError) as err:
                a.check(value, op)
            plan = s.plan(op, "float32", [(8,)] * 3, "mean", attrs={a.name: value})
            assert not plan.ok and plan.message == str(err.value), value
        if a.minimum is not None:  # the minimum itself (and -0.0 == 0.0) is allowed
            for value in (a.minimum, -0.0 if a.minimum == 0 else a.minimum):
                assert s.plan(op, "float32", [(8,)] * 3, "mean", attrs={a.name: value}).ok
        # the reduction is checked first, then the attributes, then dtype and shapes
        plan = s.plan(op, "float32", [(8,)] * 3, "bad", attrs={a.name: float("nan")})
        assert "reduction" in plan.message
        plan = s.plan(op, "float64", [(2,), (3,), (4,)], "sum", attrs={a.name: float("nan")})
        assert plan.message.startswith(f"{op}: {a.name} must be")


# -- the loss ops: two inputs; "mean"/"sum" reduce on every core, then combine -----------------

#: each loss's elementwise needs, from the kernel design: MseLoss d*d and L1Loss |d| work in
#: place; SmoothL1Loss takes two fp32 scratch tiles (the quadratic and the linear branch) and
#: selects between them (a compare mask and Select's reserve)
LOSS_NEEDS = {"MseLoss": (0, False), "L1Loss": (0, False), "SmoothL1Loss": (2, True)}
LOSS_OPS_HERE = sorted(op.name for op in defs.OPS.values() if op.kind == "loss")


def test_every_loss_op_has_its_kernel_needs_written_down():
    assert sorted(LOSS_NEEDS) == LOSS_OPS_HERE


def loss_ub_model(op, dtype, queue_inputs, tile, reduce_cores):
    """UB bytes of the loss kernel, written out from its design: double-buffered queues for the
    streamed inputs, and for the output unless it reduces; fp32 work tiles as for the grad ops;
    the compare mask of a selecting family; a reduction adds an fp32 accumulator tile, two
    32-byte slots (the partial / result, the stored element) and one 32-byte slot per core."""
    scratch, selects = LOSS_NEEDS[op]
    work = 2 + max(scratch - 1, 0) if dtype != "float32" else scratch
    mask = tile // 8 if selects else 0
    queues = queue_inputs + (0 if reduce_cores else 1)
    extra = tile * 4 + 64 + 32 * reduce_cores if reduce_cores else 0
    return queues * 2 * tile * SIZE[dtype] + work * tile * 4 + mask + extra


@pytest.mark.parametrize("cores,ub", PLATFORMS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", LOSS_OPS_HERE)
def test_loss_plans_from_0_to_2_pow_50(op, dtype, cores, ub):
    s = sim()
    size = SIZE[dtype]
    unit = s.constant("tile_align_elems")
    reserve = SELECT_RESERVE if LOSS_NEEDS[op][1] else 0
    for n in SIZES:
        for shapes in ([(n,), (n,)], [(n,), ()]):
            for reduction in ("none", "mean", "sum"):
                plan = s.plan(op, dtype, shapes, reduction, cores=cores, ub=ub)
                assert plan.ok, plan.message
                t = plan.tiling
                reduce = reduction != "none"
                assert t["totalLength"] == n and plan.out_shape == (n,)
                assert t["reduceOutput"] == int(reduce) and plan.modes[2] == 3
                used = t["usedCores"]
                assert used == plan.block_dim and 1 <= used <= cores
                slices = [s.core_slice(plan.raw_tiling, c) for c in range(used)]
                assert sum(c for _, c in slices) == n and all((st * size) % 32 == 0 for st, _ in slices)
                # the UB: exactly the model, inside the budget, the largest tile that fits
                tile = t["tileLength"]
                queue_inputs = sum(1 for m in plan.modes[:2] if m != 1)
                rc = used if reduce else 0
                assert plan.ub_needed == loss_ub_model(op, dtype, queue_inputs, tile, rc)
                assert plan.ub_needed == s.ub_bytes_for_tile(op, dtype, queue_inputs, tile, rc)
                assert plan.ub_needed + reserve <= ub and tile * size <= MAX_COPY_BYTES
                largest = max(c for _, c in slices)
                if tile < math.ceil(max(largest, 1) / unit) * unit:
                    assert (loss_ub_model(op, dtype, queue_inputs, tile + unit, rc) + reserve > ub
                            or (tile + unit) * size > MAX_COPY_BYTES)
                # the workspace: one 32-byte slot per core for the partials, 512-aligned
                if reduce:
                    assert t["partialOffset"] % 512 == 0
                    assert plan.workspace == t["partialOffset"] + math.ceil(used * 32 / 512) * 512
                else:
                    assert plan.workspace == 0
                # the scale: 1, or 1 / N from the 64-bit N in double, rounded once; NaN for no element
                if reduction == "mean":
                    if n:
                        assert plan.scale == 1.0 / n and t["scale"] == np.float32(1.0 / n)
                    else:
                        assert math.isnan(plan.scale) and math.isnan(t["scale"])
                else:
                    assert plan.scale == 1.0 and t["scale"] == 1.0

"""The small-call caches: the NumPy face's validated plans (framework.cpu) and ms_ops' validated
attribute values (ms_ops.primitives.validate in PyNative).

A cached call must give what a first call gives: an entry is never reused for another shape,
strides, dtype, attribute value (or its type) or argument naming; an invalid call is never cached,
so its error comes on every call; the caches are shared by threads. Values are compared with the
float64 reference (framework.reference). These tests assert behaviour only, never timings.
"""
from __future__ import annotations


import numpy as np
import pytest

from lossgrad_ops.framework import cpu
from lossgrad_ops.framework import definitions as d
from lossgrad_ops.framework import reference as ref
from lossgrad_ops.framework.registry import function_name
from tests.helpers import (ALL_DTYPES, assert_close, attribute_cases, failures_in_threads, rand, stable_seed,
                           unless_raises)

OPS = list(d.OPS)


def arity(op: str) -> int:
    return len(d.OPS[op].inputs)


def face(op: str):
    return getattr(cpu, function_name(op))


def expected(op: str, inputs, reduction="mean", **attrs) -> np.ndarray:
    return getattr(ref, function_name(op))(*inputs, reduction, **attrs)


def check(op: str, inputs, reduction="mean", **attrs) -> np.ndarray:
    got = face(op)(*inputs, reduction, **attrs)
    want = expected(op, inputs, reduction, **attrs)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert_close(got, want.astype(np.float64), got.dtype)
    return got


@pytest.fixture
def fresh_cache(monkeypatch):
    monkeypatch.setattr(cpu, "_DIRECT", {})
    return cpu._DIRECT


# -- the NumPy face ------------------------------------------------------------------------------

@pytest.mark.parametrize("op", OPS)
def test_a_cached_plan_is_not_reused_for_another_shape(op, fresh_cache):
    rng = np.random.default_rng(stable_seed("shape", op))
    for shapes in [[(5,)] * 3, [(3,)] * 3, [(2, 5)] * 3, [(2, 5), (5,), ()], [(2, 5), (5,), ()], [(5,)] * 3]:
        for _ in range(2):  # the second call of each is a cache hit
            check(op, [rand(rng, s, np.float32) for s in shapes[:arity(op)]])
    assert fresh_cache  # the calls were cached


@pytest.mark.parametrize("op", OPS)
def test_a_cached_plan_is_not_reused_for_other_strides(op, fresh_cache):
    rng = np.random.default_rng(stable_seed("strides", op))
    base = [rand(rng, (4, 6), np.float64) for _ in range(arity(op))]
    for view in [lambda a: a, lambda a: a[:, ::2], lambda a: a.T, lambda a: a[::-1, 1::2], lambda a: a]:
        for _ in range(2):
            check(op, [np.ascontiguousarray(view(base[0]))] + [view(a) for a in base[1:]], "none")
            check(op, [view(a) for a in base], "sum")


@pytest.mark.parametrize("op", OPS)
def test_a_cached_plan_is_not_reused_for_another_dtype(op, fresh_cache):
    rng = np.random.default_rng(stable_seed("dtype", op))
    shapes = [(7,)] * arity(op)
    for dtype in [*ALL_DTYPES, np.float32]:
        for _ in range(2):
            got = check(op, [rand(rng, s, dtype) for s in shapes], "none")
            assert got.dtype == dtype
    mixed = [rand(rng, s, dt) for s, dt in zip(shapes, [np.float16, np.float32, np.float64])]
    assert check(op, mixed).dtype == d.promote_dtypes([a.dtype.name for a in mixed])


@pytest.mark.parametrize("op", OPS)
def test_a_cached_plan_is_not_reused_for_another_attribute_value(op, fresh_cache):
    rng = np.random.default_rng(stable_seed("attrs", op))
    inputs = [rand(rng, (9,), np.float64) for _ in range(arity(op))]
    for reduction in ["none", "mean", "sum", 0, 1, 2, np.int64(2), "mean"]:
        for attrs in attribute_cases(op):
            for _ in range(2):
                check(op, inputs, reduction, **dict(attrs))


@pytest.mark.parametrize("op", OPS)
def test_a_value_of_another_type_is_validated_again(op, fresh_cache):
    """``1`` (mean) is cached; ``True`` equals it as a dict key but is no reduction."""
    x = np.ones((2, 3), np.float32)
    f = face(op)
    for bad in [True, 1.0, np.float64(2.0), np.True_]:
        f(*[x] * arity(op), 1)
        f(*[x] * arity(op), 2)
        for _ in range(3):
            with pytest.raises(ValueError) as info:
                f(*[x] * arity(op), bad)
            assert str(info.value) == d.MESSAGES["bad_reduction"].format(op=op, value=repr(bad))


@pytest.mark.parametrize("op", [o for o in OPS if any(a.type == "float" for a in d.OPS[o].attributes)])
def test_float_attributes_are_keyed_by_value_and_nan_is_refused_every_time(op, fresh_cache):
    rng = np.random.default_rng(stable_seed("float-attr", op))
    inputs = [rand(rng, (6,), np.float64) for _ in range(arity(op))]
    name = next(a.name for a in d.OPS[op].attributes if a.type == "float")
    for value in [0.5, 0.5, 2.0, np.float32(0.5), 0.0, -0.0, 0.5]:
        check(op, inputs, "none", **{name: value})
    for _ in range(3):
        with pytest.raises(ValueError, match=name):
            face(op)(*inputs, "none", **{name: float("nan")})


@pytest.mark.parametrize("op", OPS)
def test_errors_come_on_every_call(op, fresh_cache):
    f = face(op)
    good = [np.ones((2, 3), np.float32)] * arity(op)
    f(*good)
    bad_shapes = [np.ones((2, 3), np.float32), np.ones((4,), np.float32), np.ones((3,), np.float32)][:arity(op)]
    bad_dtype = [good[0].astype(np.int32)] + good[1:]
    for _ in range(3):
        with pytest.raises(ValueError, match="not broadcastable"):
            f(*bad_shapes)
        with pytest.raises(TypeError, match="int32"):
            f(*bad_dtype)
        with pytest.raises(ValueError, match="reduction"):
            f(*good, "avg")
        # out= of the wrong shape after the same call succeeded (cached)
        with pytest.raises(ValueError):
            f(*good, "none", out=np.empty((3, 2), np.float32))
        with pytest.raises(TypeError):
            f(*good, "none", out=[0.0] * 6)
    assert not any(key for key in fresh_cache if any(isinstance(k, tuple) and (4,) in k for k in key))


@pytest.mark.parametrize("op", OPS)
def test_out_on_a_cached_call(op, fresh_cache):
    rng = np.random.default_rng(stable_seed("out", op))
    inputs = [rand(rng, (4, 5), np.float64) for _ in range(arity(op))]
    want = expected(op, inputs, "none")
    for _ in range(2):
        out = np.empty(want.shape, want.dtype)
        assert face(op)(*inputs, "none", out=out) is out
        assert_close(out, want, out.dtype)
    # out= that is an input (in place), then one that overlaps an input shifted: both as a fresh output
    for k in range(arity(op)):
        xs = [a.copy() for a in inputs]
        face(op)(*xs, "none", out=xs[k])
        assert_close(xs[k], want, want.dtype)
        buf = np.concatenate([inputs[k].ravel(), [0.0]])
        xs = list(inputs)
        xs[k] = buf[:-1].reshape(4, 5)
        out = buf[1:].reshape(4, 5)
        face(op)(*xs, "none", out=out)
        assert_close(out, want, want.dtype)


@pytest.mark.parametrize("op", OPS)
def test_unaligned_inputs_after_a_cached_aligned_call(op, fresh_cache):
    rng = np.random.default_rng(stable_seed("unaligned", op))
    inputs = [rand(rng, (6, 7), np.float32) for _ in range(arity(op))]
    check(op, inputs)
    for k in range(arity(op)):
        u = np.frombuffer(bytearray(inputs[k].nbytes + 1), np.float32, count=inputs[k].size,
                          offset=1).reshape(inputs[k].shape)
        u[...] = inputs[k]
        assert not u.flags.aligned
        moved = list(inputs)
        moved[k] = u
        got = face(op)(*moved)
        assert_close(got, expected(op, inputs).astype(np.float64), got.dtype)


def test_the_cache_stays_bounded(monkeypatch, fresh_cache):
    monkeypatch.setattr(cpu, "DIRECT_CACHE_SIZE", 4)
    rng = np.random.default_rng(stable_seed("bounded"))
    op = OPS[0]
    for n in range(1, 20):
        check(op, [rand(rng, (n,), np.float32) for _ in range(arity(op))])
        assert len(fresh_cache) <= 4


@pytest.mark.parametrize("op", OPS)
def test_threads_share_the_cache(op, fresh_cache):
    """Threads calling with shapes, dtypes and reductions in different orders, some calls invalid: every
    result equals the reference and every invalid call raises."""
    rng = np.random.default_rng(stable_seed("threads", op))
    cases = []
    for shape in [(3,), (4, 5), (1, 8), (50,)]:
        for dtype in [np.float32, np.float64, np.float16]:
            for reduction in ["none", "mean", "sum"]:
                inputs = [rand(rng, shape, dtype) for _ in range(arity(op))]
                cases.append((inputs, reduction, expected(op, inputs, reduction)))
    bad = [np.ones((2, 3), np.float32), np.ones((4,), np.float32), np.ones((3,), np.float32)][:arity(op)]

    def work(i: int, failures: list) -> None:
        inputs, reduction, want = cases[i]
        got = face(op)(*inputs, reduction)
        if got.dtype != want.dtype or got.shape != want.shape:
            failures.append(f"case {i}: {got.dtype}{got.shape} != {want.dtype}{want.shape}")
        else:
            assert_close(got, want.astype(np.float64), got.dtype)
        unless_raises(failures, ValueError, "an invalid call did not raise", face(op), *bad)

    failures = failures_in_threads(work, len(cases), rounds=3)
    assert not failures, failures[:5]
    assert len(fresh_cache) == len(cases)


def test_run_direct_refuses_what_it_cannot_take():
    """The native small-call entry: null attributes or geometry and too many inputs are errors
    with a message (never a crash); a wrong output geometry is the core's own error."""
    import ctypes

    lib = cpu._library()
    op = d.OPS[OPS[0]]
    x = np.ones(4, np.float32)
    geometry = (cpu._TensorRef * (len(op.inputs) + 1))(*[cpu._ref(x) for _ in range(len(op.inputs) + 1)])
    attrs = cpu._attr_array(op, op.attribute_values("mean"))
    err = ctypes.create_string_buffer(256)
    ptrs = [x.ctypes.data] * cpu.MAX_INPUTS
    assert lib.lossgrad_run_direct(op.native_id, None, len(op.inputs), geometry, *ptrs, x.ctypes.data, err, 256) == 1
    assert b"must not be null" in err.value
    assert lib.lossgrad_run_direct(op.native_id, attrs, len(op.inputs), None, *ptrs, x.ctypes.data, err, 256) == 1
    assert lib.lossgrad_run_direct(op.native_id, attrs, cpu.MAX_INPUTS + 1, geometry, *ptrs, x.ctypes.data,
                                   err, 256) == 1
    assert b"at most" in err.value
    bad_out = (cpu._TensorRef * (len(op.inputs) + 1))(*[cpu._ref(x) for _ in op.inputs],
                                                      cpu._ref(np.ones(5, np.float32)))
    out = np.empty(5, np.float32)
    assert lib.lossgrad_run_direct(op.native_id, attrs, len(op.inputs), bad_out, *ptrs, out.ctypes.data, None, 0) == 1
    if not op.is_loss:
        out = np.empty(4, np.float32)
        assert lib.lossgrad_run_direct(op.native_id, attrs, len(op.inputs), geometry, *ptrs, out.ctypes.data,
                                       err, 256) == 0
        assert_close(out, expected(OPS[0], [x] * len(op.inputs)).astype(np.float64), np.float32)

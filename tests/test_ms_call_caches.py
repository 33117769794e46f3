"""ms_ops' small-call cache: what ``primitives.validate`` validated, reused in PyNative.

A cached result is never reused for another shape, dtype, reduction or attribute value (or its
type), or for another naming of the arguments (errors name the caller's arguments); an invalid
call is never cached, so its error comes on every call; threads share the cache. Values are
compared with the float64 reference (framework.reference). Behaviour only, never timings.
"""
from __future__ import annotations


import numpy as np
import pytest

import mindspore as ms
from mindspore import Tensor

from lossgrad_ops import ms_ops
from lossgrad_ops.framework import definitions as d
from lossgrad_ops.framework import reference as ref
from lossgrad_ops.framework.registry import function_name
from lossgrad_ops.ms_ops import primitives
from tests.helpers import (assert_close, attribute_cases, failures_in_threads, ms_mode, rand, stable_seed,
                           unless_raises)

GRAD_OPS = [name for name, op in d.OPS.items() if not op.is_loss]
MS_DT = {np.dtype(np.float16): ms.float16, np.dtype(np.float32): ms.float32, np.dtype(np.float64): ms.float64}


@pytest.fixture
def pynative():
    with ms_mode(ms.PYNATIVE_MODE):
        yield


@pytest.fixture
def fresh_cache(monkeypatch):
    monkeypatch.setattr(primitives, "_VALIDATED", {})
    return primitives._VALIDATED


def arity(op: str) -> int:
    return len(d.OPS[op].inputs)


def run(op: str, inputs, reduction="mean", **attrs) -> np.ndarray:
    out = getattr(ms_ops, function_name(op))(*[Tensor(a) for a in inputs], reduction, **attrs)
    return out.asnumpy()


def check(op: str, inputs, reduction="mean", **attrs) -> None:
    got = run(op, inputs, reduction, **attrs)
    want = getattr(ref, function_name(op))(*inputs, reduction, **attrs)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    assert_close(got, want.astype(np.float64), got.dtype)


@pytest.mark.parametrize("op", list(d.OPS))
def test_a_cached_validation_is_not_reused_for_another_shape_or_dtype(op, pynative, fresh_cache):
    rng = np.random.default_rng(stable_seed("ms-shape", op))
    for shapes in [[(5,)] * 3, [(3,)] * 3, [(2, 5), (5,), ()], [(5,)] * 3]:
        for dtype in [np.float32, np.float64, np.float16, np.float32]:
            for reduction in ["none", "sum", "mean"]:
                for _ in range(2):
                    check(op, [rand(rng, s, dtype) for s in shapes[:arity(op)]], reduction)
    assert fresh_cache


@pytest.mark.parametrize("op", list(d.OPS))
def test_a_cached_validation_is_not_reused_for_another_attribute_value(op, pynative, fresh_cache):
    rng = np.random.default_rng(stable_seed("ms-attrs", op))
    inputs = [rand(rng, (8,), np.float64) for _ in range(arity(op))]
    for reduction in ["none", 0, "sum", 2, "mean", 1]:
        for attrs in attribute_cases(op):
            for _ in range(2):
                check(op, inputs, reduction, **dict(attrs))
    x = [np.ones((2, 3), np.float32)] * arity(op)
    for bad in [True, 1.0, np.True_]:  # equal to the cached 1 as dict keys, but no reduction
        run(op, x, 1)
        for _ in range(3):
            with pytest.raises(ValueError, match="reduction must be one of"):
                run(op, x, bad)


@pytest.mark.parametrize("op", list(d.OPS))
def test_errors_come_on_every_call_and_name_the_callers_arguments(op, pynative, fresh_cache):
    fn = getattr(ms_ops, function_name(op))
    good = [Tensor(np.ones((2, 3), np.float32))] * arity(op)
    fn(*good).asnumpy()
    bad = [Tensor(np.ones(s, np.float32)) for s in [(2, 3), (4,), (3,)][:arity(op)]]
    names = d.OPS[op].inputs if not d.OPS[op].is_loss else ("input", "target")
    for _ in range(3):
        with pytest.raises(ValueError, match="shapes are not broadcastable") as info:
            fn(*bad)
        assert all(name in str(info.value) for name in names[:2])
        with pytest.raises(TypeError, match="int32"):
            fn(*good[:-1], Tensor(np.ones((2, 3), np.int32)))
        with pytest.raises(ValueError, match="reduction must be one of"):
            fn(*good, "avg")
        with pytest.raises(TypeError, match="must be a mindspore.Tensor"):
            fn(*good[:-1], np.ones((2, 3), np.float32))
    assert all(key[1] != (str, "avg") for key in fresh_cache)


@pytest.mark.parametrize("op", GRAD_OPS)
def test_the_aclnn_order_names_its_own_arguments_after_a_cached_call(op, pynative, fresh_cache):
    backward_name = function_name(op)[:-len("_grad")] + "_backward"
    if not hasattr(ms_ops, backward_name):
        pytest.skip(f"{op} has no aclnn-order function")
    grad, backward = getattr(ms_ops, function_name(op)), getattr(ms_ops, backward_name)
    shapes = [(1, 9), (2, 1), (1, 9)]
    xs = [Tensor(np.ones(s, np.float32)) for s in shapes]
    bad = [Tensor(np.ones(s, np.float32)) for s in [(2, 3), (4,), (2, 3)]]
    for _ in range(2):
        grad(*xs).asnumpy()
        for fn, names in [(grad, d.OPS[op].inputs), (backward, ("grad_output", "input", "target"))]:
            with pytest.raises(ValueError, match="not broadcastable") as info:
                fn(*bad)
            assert all(name in str(info.value) for name in names), (names, str(info.value))


def test_graph_mode_still_validates_at_compile_time(fresh_cache):
    """A valid call cached in PyNative; the same shapes and an invalid reduction in graph mode still raise."""
    op = GRAD_OPS[0]
    fn = getattr(ms_ops, function_name(op))
    x = Tensor(np.ones((2, 3), np.float32))
    with ms_mode(ms.PYNATIVE_MODE):
        fn(*[x] * arity(op), "sum").asnumpy()

        class Net(ms.nn.Cell):
            def __init__(self, reduction):
                super().__init__()
                self.reduction = reduction

            def construct(self, *xs):
                return fn(*xs, self.reduction)

        ms.set_context(mode=ms.GRAPH_MODE)
        want = getattr(ref, function_name(op))(*[x.asnumpy()] * arity(op), "sum")
        assert_close(Net("sum")(*[x] * arity(op)).asnumpy(), want.astype(np.float64), np.float32)
        for _ in range(2):
            with pytest.raises(ValueError, match="reduction must be one of"):
                Net("avg")(*[x] * arity(op))


def test_threads_share_the_validation_cache(fresh_cache):
    """validate() from many threads, shapes, dtypes and attributes in different orders, some invalid."""
    cases = []
    for op in d.OPS:
        for shape in [(3,), (4, 5), (1, 8)]:
            for dtype in MS_DT.values():
                for reduction in ["none", "mean", "sum", 2]:
                    for attrs in attribute_cases(op):
                        shapes, dtypes = (shape,) * arity(op), (dtype,) * arity(op)
                        want = d.OPS[op].plan([shape] * arity(op), [str(dtype).lower()] * arity(op), reduction,
                                              **dict(attrs)).attrs
                        cases.append(((op, reduction, shapes, dtypes, None, tuple(attrs)), want))

    def work(i: int, failures: list) -> None:
        args, want = cases[i]
        got = primitives.validate(*args)
        if got != want:
            failures.append(f"{args}: {got} != {want}")
        op, _, shapes, dtypes, _, attrs = args
        unless_raises(failures, ValueError, "an invalid reduction did not raise",
                      primitives.validate, op, "avg", shapes, dtypes, None, attrs)
        unless_raises(failures, ValueError, "non-broadcastable shapes did not raise",
                      primitives.validate, op, "mean", ((2, 3), (4,), (4,))[:len(shapes)], dtypes, None, attrs)

    failures = failures_in_threads(work, len(cases), rounds=2)
    assert not failures, failures[:5]
    assert len(fresh_cache) == len(cases)

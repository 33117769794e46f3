"""Shared test helpers: random data and the comparison rules of the issue.

Tolerances: float32/float64 within a few machine epsilons of the float64
reference (relative); float16/bfloat16 within one rounding (one ulp of the half
type) of the exact result.
"""
from __future__ import annotations

import contextlib
import os
import zlib
from typing import Dict

import numpy as np

from lossgrad_ops.framework.arrays import bfloat16

ALL_DTYPES = [np.dtype(np.float16), bfloat16, np.dtype(np.float32), np.dtype(np.float64)]
DTYPE_IDS = ["float16", "bfloat16", "float32", "float64"]
REDUCTIONS = ["none", "mean", "sum"]

#: The documented switch that lets the suite run without some native library (README "Testing").
ALLOW_MISSING_NATIVE_ENV = "LOSSGRAD_ALLOW_MISSING_NATIVE"


def allow_missing_native() -> bool:
    return os.environ.get(ALLOW_MISSING_NATIVE_ENV) == "1"


def ascend_sim_path() -> str:
    """The test-only Ascend CPU stand-in: ``$LOSSGRAD_ASCEND_SIM_LIB``, else what ``make test`` builds."""
    return os.environ.get("LOSSGRAD_ASCEND_SIM_LIB") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "ascend-sim", "_lossgrad_ascend_sim.so")


def ascend_sim_missing_message() -> str:
    return (f"the Ascend CPU stand-in {ascend_sim_path()} is not built: run `make test` (it is never installed; "
            "LOSSGRAD_ASCEND_SIM_LIB points the tests at another build)")


def missing_native_libraries() -> Dict[str, str]:
    """The native libraries the build should have produced that are not usable, with the reason."""
    from lossgrad_ops.framework import cpu
    from lossgrad_ops import onnx_ops

    missing = {}
    try:
        cpu.library_path()
    except cpu.NativeLibraryError as exc:
        missing["kernel core (framework/_lossgrad_native)"] = str(exc)
    if not os.path.exists(ascend_sim_path()):
        missing["Ascend simulation (test-only build)"] = ascend_sim_missing_message()
    if not onnx_ops.native_available():
        try:
            onnx_ops.library_path()
        except onnx_ops.NativeLibraryUnavailable as exc:
            missing["onnxruntime custom ops (onnx_ops/_lossgrad_ort)"] = str(exc)
    return missing


def stable_seed(*parts) -> int:
    """A 32-bit seed from ``parts`` (strings, numbers, tuples, dtypes) that is the same in every
    process: CRC-32 of their repr (``hash()`` of strings changes with PYTHONHASHSEED)."""
    return zlib.crc32(repr(tuple(str(p) if isinstance(p, np.dtype) else p for p in parts)).encode())


def rand(rng: np.random.Generator, shape, dtype, low: float = 0.25, high: float = 2.0) -> np.ndarray:
    """Random values bounded away from zero (never zeros), random signs."""
    mag = rng.uniform(low, high, size=shape)
    sign = rng.choice([-1.0, 1.0], size=shape)
    return np.asarray(mag * sign).astype(dtype)


def _half_ulp(ref: np.ndarray, dtype: np.dtype) -> np.ndarray:
    mant_bits, min_exp = (10, -14) if dtype == np.float16 else (7, -126)
    mag = np.abs(ref)
    with np.errstate(divide="ignore"):
        exp = np.floor(np.log2(np.where(mag > 0, mag, 1.0)))
    exp = np.maximum(exp, min_exp)
    return np.exp2(exp - mant_bits)


def assert_close(actual: np.ndarray, expected64: np.ndarray, dtype, *, eps_factor: float = 8.0,
                 reduction_terms: int = 1, precision=None, atol: float = 0.0) -> None:
    """Compare a kernel result of dtype ``dtype`` with the float64 reference value.

    ``expected64`` must be the *float64* reference (before rounding to ``dtype``).
    ``reduction_terms`` widens the float32 bound for sums (accumulation error).
    ``precision`` (default ``dtype``) is the dtype whose precision sets the tolerance,
    for comparisons with a reference less precise than ``dtype``. ``atol`` adds an
    absolute slack, for sums whose terms cancel (error relative to the terms, not the result).
    """
    dtype = np.dtype(dtype)
    tol_dtype = np.dtype(precision) if precision is not None else dtype
    actual = np.asarray(actual)
    assert actual.dtype == dtype, (actual.dtype, dtype)
    assert actual.shape == np.shape(expected64), (actual.shape, np.shape(expected64))
    a = actual.astype(np.float64)
    e = np.asarray(expected64, dtype=np.float64)
    nan_a, nan_e = np.isnan(a), np.isnan(e)
    np.testing.assert_array_equal(nan_a, nan_e, err_msg="NaN positions differ")
    fin = ~nan_e
    with np.errstate(invalid="ignore"):  # inf - inf where both are infinite is handled by inf_e
        ok = _within(a[fin], e[fin], tol_dtype, reduction_terms, eps_factor) | (np.abs(a[fin] - e[fin]) <= atol)
    if not np.all(ok):
        bad = np.flatnonzero(~ok)[:5]
        raise AssertionError(f"{dtype}: {np.count_nonzero(~ok)} mismatches, e.g. actual {a[fin][bad]} "
                             f"vs expected {e[fin][bad]}")


def _within(a: np.ndarray, e: np.ndarray, dtype: np.dtype, reduction_terms: int,
            eps_factor: float) -> np.ndarray:
    if dtype in (np.float16, bfloat16):
        # exact value rounded twice at most (fp32 then half): one half ulp of slack
        tol = _half_ulp(e, dtype) + np.abs(e) * 2.0 ** -20 * reduction_terms
        inf_e = np.isinf(e) | (np.abs(e) > (65504 if dtype == np.float16 else 3.3e38))
        return np.where(inf_e, np.isinf(a) & (np.sign(a) == np.sign(e)), np.abs(a - e) <= tol)
    eps = np.finfo(dtype).eps * eps_factor * (1 if reduction_terms == 1 else 4)
    return np.where(np.isinf(e), a == e, np.abs(a - e) <= eps * np.abs(e) + np.finfo(dtype).tiny)


ONNX_PATHS = ["ort-native", "ort-functions", "reference-ops", "reference-functions"]


def run_onnx_path(path: str, model, feeds: dict):
    """Run ``model`` on ``feeds`` through one of the four ONNX execution paths (``ONNX_PATHS``)."""
    from lossgrad_ops import onnx_ops

    if path == "ort-native":
        return onnx_ops.inference_session(model, native=True).run(None, feeds)
    if path == "ort-functions":
        return onnx_ops.inference_session(model, native=False).run(None, feeds)
    if path == "reference-ops":
        return onnx_ops.reference_evaluator(model).run(None, feeds)
    assert path == "reference-functions", path
    with np.errstate(all="ignore"):
        return onnx_ops.reference_evaluator(model, function_bodies=True).run(None, feeds)


def raw_attrs(op_id: int, reduction: int):
    """lossgrad_run's attribute array: the op's declared defaults with a raw reduction code (unchecked:
    the core validates it); one value for an op id the library does not know."""
    from lossgrad_ops.framework import cpu
    from lossgrad_ops.framework import definitions as d

    op = {o.native_id: o for o in d.OPS.values()}.get(op_id)
    arr = (cpu._attr_array(op, {a.name: a.default for a in op.attributes}) if op is not None
           else (cpu._AttrValue * 1)())
    arr[0].i = reduction
    return arr


# -- declared attributes: the values the tests run every op with ----------------------------------

#: sample values per declared attribute type (those below a float attribute's minimum are left out);
#: for a float attribute of minimum 0 (a threshold) they cover 0, a value below, at and above the
#: typical input differences, all exact in float32 (an ONNX FLOAT attribute)
ATTRIBUTE_SAMPLES = {"float": (0.0, 0.25, 1.0, 3.0), "int": (0, 1, 3), "bool": (False, True), "string": ()}


def attribute_cases(op):
    """The attribute sets the tests run ``op`` (a name or an OpDef) with, besides ``reduction``: first
    ``()`` (every other attribute absent: the defaults), then each non-reduction declared attribute
    at each of its ATTRIBUTE_SAMPLES, as ((name, value),) tuples. ``[()]`` for an op whose only
    attribute is ``reduction``."""
    from lossgrad_ops.framework import definitions as d

    op = d.OPS[op] if isinstance(op, str) else op
    cases = [()]
    for a in op.attributes[1:]:
        for value in ATTRIBUTE_SAMPLES[a.type]:
            if a.minimum is None or value >= a.minimum:
                cases.append(((a.name, value),))
    return cases


def attrs_id(attrs) -> str:
    """A short test id of an attribute case (``defaults`` for ``()``)."""
    return ",".join(f"{k}={v}" for k, v in attrs) or "defaults"


# -- PyTorch as an independent float64 oracle ----------------------------------------------------

def _snake(name: str) -> str:
    out = ""
    for i, c in enumerate(name):
        if c.isupper() and i and (name[i - 1].islower() or name[i - 1].isdigit()):
            out += "_"
        out += c.lower()
    return out


def torch_oracle(op, arrays, reduction="mean", **attrs) -> np.ndarray:
    """``op`` on ``arrays`` computed by PyTorch in float64, independently of this package's formulas.

    A loss ``FooLoss`` is ``torch.nn.functional.foo_loss`` over the inputs broadcast to their
    common shape B (its keyword arguments are the op's other declared attributes). A grad op
    ``FooLossGrad`` is ``dout * d FooLoss(predict, label) / d predict`` by ``torch.autograd``,
    with ``dout`` the input that the MindSpore face calls ``grad_output`` (its family's
    ``FACES`` names the aclnn arguments); the autograd gradient of the reduced loss already
    holds the scale (1/N for mean). ``reduction`` "none" for a grad op: the gradient of the
    ``sum`` loss (scale 1).
    """
    import torch

    from lossgrad_ops.framework import definitions as d
    from lossgrad_ops.framework import registry

    spec = d.OPS[op] if isinstance(op, str) else op
    t = [torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in arrays]
    shape = torch.broadcast_shapes(*[x.shape for x in t])
    t = [x.expand(shape).clone() for x in t]
    if spec.is_loss:
        fn = getattr(torch.nn.functional, _snake(spec.name))
        return fn(t[0], t[1], reduction=reduction, **attrs).numpy()
    loss = spec.name[:-len("Grad")]
    fn = getattr(torch.nn.functional, _snake(loss))
    names = registry.FACES[spec.name]["backward"]  # the aclnn names of the inputs, in the op's order
    by_name = dict(zip(names, t))
    predict = by_name["input"].requires_grad_(True)
    value = fn(predict, by_name["target"], reduction="sum" if reduction == "none" else reduction, **attrs)
    (grad,) = torch.autograd.grad(value, predict)
    return (by_name["grad_output"] * grad).detach().numpy()


def unless_raises(failures: list, exc: type, what: str, fn, *args) -> None:
    """Append ``what`` to ``failures`` unless ``fn(*args)`` raises ``exc`` (in worker threads, where
    ``pytest.raises`` cannot report; any other exception propagates)."""
    try:
        fn(*args)
    except exc:
        return
    failures.append(what)


def failures_in_threads(work, cases: int, threads: int = 8, rounds: int = 1) -> list:
    """Run ``work(i, failures)`` for every case index ``i`` from ``threads`` threads at once, each
    thread in its own (seeded) order and ``rounds`` times over; returns what the calls appended to
    ``failures`` plus any exception a thread raised (repr), for the caller to assert empty."""
    import threading

    failures: list = []

    def run(seed: int) -> None:
        order = np.random.default_rng(seed).permutation(cases)
        try:
            for _ in range(rounds):
                for i in order:
                    work(int(i), failures)
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            failures.append(repr(exc))

    pool = [threading.Thread(target=run, args=(seed,)) for seed in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return failures


@contextlib.contextmanager
def ms_mode(mode: int):
    """MindSpore's execution mode set to ``mode`` (``ms.GRAPH_MODE`` / ``ms.PYNATIVE_MODE``) inside
    the block, the previous one restored after it (also when the block raises)."""
    import mindspore as ms

    before = ms.get_context("mode")
    ms.set_context(mode=mode)
    try:
        yield
    finally:
        ms.set_context(mode=before)


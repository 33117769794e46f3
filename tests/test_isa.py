"""Runtime instruction-set dispatch of the native kernels (framework/csrc/lossgrad/isa.h).

Every level this machine runs (``cpu.isa_levels()``) is forced in a child process with
``LOSSGRAD_ISA``, with one thread and with three, and every op, dtype, reduction and attribute
value of a battery of inputs must give the same bits as the baseline level on one thread: odd
sizes (the vector tails), broadcast scalars, sizes split over several tasks and reduction
blocks, and special values (NaN with payloads, infinities, signed zeros, subnormals, every
float16 and bfloat16 bit pattern). The level actually chosen is checked too, and that the
machine's CPU flags (``/proc/cpuinfo``) decide which levels are available.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from lossgrad_ops.framework import cpu

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The child: computes the battery and saves every output's bytes (npz), then prints its level.
BATTERY = """
    import json, sys
    import numpy as np
    from lossgrad_ops.framework import cpu
    from lossgrad_ops.framework.arrays import bfloat16
    from lossgrad_ops.framework.definitions import OPS

    DTYPES = [np.dtype(np.float16), bfloat16, np.dtype(np.float32), np.dtype(np.float64)]
    SIZES = [1, 7, 8, 15, 16, 17, 33, 255, 257, 1000, 70001]

    def specials(dtype):
        info = np.finfo(np.float32 if dtype == bfloat16 else dtype)
        tiny = info.smallest_subnormal if hasattr(info, "smallest_subnormal") else info.tiny * info.eps
        vals = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, float(tiny), -3 * float(tiny), float(info.max),
                -float(info.max), 1.0, -1.0, 0.5, 65504.0, 65520.0, 1e-8]
        return np.array(vals, dtype=np.float64)

    def data(rng, dtype, n, special):
        x = rng.standard_normal(n) * rng.choice([1e-3, 1.0, 1e3], n)
        if special:  # a fifth of the elements (finite data elsewhere, or every sum would be NaN)
            k = min(n, max(1, n // 5))
            x[rng.choice(n, k, replace=False)] = rng.choice(specials(dtype), k)
        return x.astype(dtype)

    def attr_values(op):
        # every float attribute at its default, an inexact value, and its minimum
        sets = [{}]
        for a in op.attributes[1:]:
            if a.type == "float":
                low = a.minimum if a.minimum is not None else -2.0
                sets = [dict(s, **{a.name: v}) for s in sets for v in (a.default, 0.3, low)]
        return sets

    out = {}
    rng = np.random.default_rng(20261202)
    for op in OPS.values():
        reductions = ["none", "mean", "sum"] if op.is_loss else ["none", "mean"]
        for dt in DTYPES:
            for n in SIZES:
                for scalar_input, special in [(None, False), (None, True)] + [(i, False) for i in range(len(op.inputs))]:
                    inputs = [data(rng, dt, n, special) for _ in op.inputs]
                    if scalar_input is not None:
                        inputs[scalar_input] = inputs[scalar_input][:1].reshape(())
                    for red in reductions:
                        for attrs in attr_values(op):
                            y = cpu.run(op.name, *inputs, reduction=red, **attrs)
                            key = f"{op.name}|{dt}|{n}|{scalar_input}|{special}|{red}|{sorted(attrs.items())}"
                            out[key] = np.frombuffer(np.ascontiguousarray(y).tobytes(), np.uint8)
    # Every float16 / bfloat16 bit pattern through a load and a store: MseLossGrad of
    # (x, 0, 0.5) with reduction "sum" (s = 2) is x itself, a NaN made quiet.
    for dt, view in [(np.dtype(np.float16), np.uint16), (bfloat16, np.uint16)]:
        x = np.arange(65536, dtype=np.uint16).view(dt)
        zero, half = np.zeros(65536, dt), np.full(65536, 0.5, dt)
        op = next(o for o in OPS.values() if not o.is_loss and len(o.inputs) == 3)
        y = cpu.run(op.name, x, zero, half, reduction="sum")
        out[f"all-bits|{dt}|{op.name}"] = np.frombuffer(y.tobytes(), np.uint8)
    np.savez(sys.argv[1], **out)
    print(json.dumps({"isa": cpu.isa(), "threads": cpu.num_threads(), "cases": len(out)}))
"""


def _run_battery(tmp_path, level: str, threads: int) -> tuple:
    path = str(tmp_path / f"{level}-{threads}.npz")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOSSGRAD_")}
    env.update(LOSSGRAD_ISA=level, LOSSGRAD_NUM_THREADS=str(threads), LOSSGRAD_PARALLEL_THRESHOLD="1",
               PYTHONPATH=ROOT + os.pathsep + env.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(BATTERY), path], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"LOSSGRAD_ISA={level}: exit status {proc.returncode}\n{proc.stderr[-3000:]}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    with np.load(path) as z:
        results = {k: z[k] for k in z.files}
    os.remove(path)  # 80 MB a run; pytest keeps the temporary directories of its last runs
    return report, results


def _cpu_flags() -> set:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def test_every_level_and_thread_count_gives_the_same_bits(tmp_path):
    levels = cpu.isa_levels()
    assert levels[0] == "baseline"
    base_report, base = _run_battery(tmp_path, "baseline", 1)
    assert base_report == {"isa": "baseline", "threads": 1, "cases": len(base)}
    assert len(base) > 3000
    runs = [(level, 1) for level in levels[1:]] + [("baseline", 3), (levels[-1], 3)]
    for level, threads in runs:
        report, got = _run_battery(tmp_path, level, threads)
        assert report["isa"] == level and report["threads"] == threads
        assert got.keys() == base.keys()
        differ = [k for k in base if not np.array_equal(base[k], got[k])]
        assert not differ, (f"LOSSGRAD_ISA={level} with {threads} threads differs from the baseline level on "
                            f"{len(differ)} of {len(base)} cases, e.g. {differ[:5]}")


def test_the_level_follows_the_cpu_flags():
    levels = cpu.isa_levels()
    if platform.machine() not in ("x86_64", "AMD64"):
        assert levels == ["baseline"]
        return
    flags = _cpu_flags()
    assert flags, "/proc/cpuinfo lists no CPU flags"
    want = ["baseline"]
    if {"avx2", "fma", "f16c"} <= flags:
        want.append("avx2")
        if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
            want.append("avx512")
    assert levels == want
    # Without LOSSGRAD_ISA the library runs the best of them.
    if "LOSSGRAD_ISA" not in os.environ:
        assert cpu.isa() == want[-1]


@pytest.mark.parametrize("value", ["sse9", "AVX2", " avx2"])
def test_an_unknown_level_is_a_warning_and_the_best_level_runs(value):
    env = {k: v for k, v in os.environ.items() if k != "LOSSGRAD_ISA"}
    env.update(LOSSGRAD_ISA=value, PYTHONPATH=ROOT + os.pathsep + env.get("PYTHONPATH", ""))
    code = ("import warnings, json\nwarnings.simplefilter('always')\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    from lossgrad_ops.framework import cpu\n    level = cpu.isa()\n"
            "print(json.dumps({'isa': level, 'best': cpu.isa_levels()[-1], 'warnings': [str(x.message) for x in w]}))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["isa"] == report["best"]
    assert any(f"LOSSGRAD_ISA='{value}' is not one of baseline, avx2, avx512" in m for m in report["warnings"]), report

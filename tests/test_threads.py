"""The native thread pool of framework.cpu: resizes between parallel calls, thread-creation
failure, LOSSGRAD_NUM_THREADS parsing and set_num_threads argument checks.

Whatever can hang or abort runs in a child process with a timeout, so a regression fails the
test instead of stopping the suite.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from lossgrad_ops.framework import cpu
from lossgrad_ops.framework import reference as ref
from tests.helpers import assert_close, rand

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV_VAR = "LOSSGRAD_NUM_THREADS"


def _child_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _script(*parts: str) -> str:
    return "\n".join(textwrap.dedent(part) for part in parts)


def _spawn(code: str, **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=_child_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float, what: str) -> dict:
    """Wait for a child; its last stdout line is a JSON report. A hang or crash fails the test."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # only our own child, by its pid
        proc.communicate()
        pytest.fail(f"{what}: no result after {timeout} s (the pool hung)")
    assert proc.returncode == 0, f"{what}: exit status {proc.returncode}\n{err[-3000:]}"
    return json.loads(out.strip().splitlines()[-1])


# -- item 1: resizing between parallel calls ---------------------------------------------

RESIZE_LOOP = """
    import json, time
    import numpy as np
    from lossgrad_ops.framework import cpu
    rng = np.random.default_rng({seed})
    n = cpu.parallel_threshold() + 37856          # several tasks: the pool is used
    p, l, d = (rng.uniform(-2, 2, n).astype(np.float32) for _ in range(3))
    floor_in, floor_out = np.ones(n, np.float32), np.empty(n, np.float32)
    first = cpu.mse_loss_grad(p, l, d, "none")
    bad = 0
    i, start = 0, time.monotonic()
    while i < {iters} and time.monotonic() - start < {seconds}:
        cpu.set_num_threads(16 + i % 2)           # fresh workers right before a parallel call
        if i % 8:
            cpu.stream_floor([floor_in], floor_out)   # the quickest parallel call after a resize
        elif not np.array_equal(cpu.mse_loss_grad(p, l, d, "none"), first):
            bad += 1                               # e.g. the call returned while a task still ran
        i += 1
    print(json.dumps({{"iterations": i, "bad": bad, "threads": cpu.num_threads()}}))
"""


def test_resizes_between_parallel_calls_neither_hang_nor_change_results():
    """Three processes at once (the oversubscription made the old pool hang within a second or two)."""
    procs = [_spawn(RESIZE_LOOP.format(seed=k, iters=4000, seconds=3.0)) for k in range(3)]
    deadline = time.monotonic() + 45.0  # about 5 s when nothing hangs
    try:
        reports = [_finish(p, max(1.0, deadline - time.monotonic()), f"resize loop {k}")
                   for k, p in enumerate(procs)]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for r in reports:
        assert r["iterations"] >= 50 and r["bad"] == 0 and r["threads"] in (16, 17), r


def test_results_match_the_reference_after_resizes():
    before = cpu.num_threads()
    rng = np.random.default_rng(20261202)
    n = cpu.parallel_threshold() * 2 + 4321
    p, l, d = (rand(rng, (n,), np.float32) for _ in range(3))
    expected = ref.mse_loss_grad(*(a.astype(np.float64) for a in (p, l, d)), "mean")
    expected_loss = ref.l1_loss(p.astype(np.float64), l.astype(np.float64), "sum")
    results = []
    try:
        for threads in (16, 17, 1, 5, 2, 16):
            cpu.set_num_threads(threads)
            assert cpu.num_threads() == threads
            out = cpu.mse_loss_grad(p, l, d, "mean")
            assert_close(out, expected, np.float32)
            assert_close(cpu.l1_loss(p, l, "sum"), expected_loss, np.float32, reduction_terms=64)
            results.append(out.tobytes())
    finally:
        cpu.set_num_threads(before)
    assert len(set(results)) == 1  # bitwise the same whatever the thread count


# -- item 2: a worker thread that cannot be created ---------------------------------------

# Allow the process only a little more address space than it has: a worker's stack (8 MiB
# reserved) then cannot be mapped after a few dozen threads. RLIMIT_AS binds root too.
LIMIT_ADDRESS_SPACE = """
    import resource
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (vm + {headroom} * 2**20, resource.RLIM_INFINITY))
"""

CHECK_POOL_WORKS = """
    rng = np.random.default_rng(7)
    n = cpu.parallel_threshold() * 2 + 99
    p, l, d = (rng.uniform(-2, 2, n).astype(np.float32) for _ in range(3))
    expected = d.astype(np.float64) * (p.astype(np.float64) - l) * 2.0
    got = cpu.mse_loss_grad(p, l, d, "none").astype(np.float64)
    ok = bool(np.all(np.abs(got - expected) <= 4e-7 * np.abs(expected) + 1e-30))
"""


def test_set_num_threads_beyond_what_the_system_allows_raises_and_keeps_the_pool():
    code = _script("""
        import json
        import numpy as np
        from lossgrad_ops.framework import cpu
        cpu.set_num_threads(2)
        """, LIMIT_ADDRESS_SPACE.format(headroom=150), """
        try:
            cpu.set_num_threads(200)
            error = None
        except RuntimeError as exc:
            error = str(exc)
        threads = cpu.num_threads()
        """, CHECK_POOL_WORKS, """
        print(json.dumps({"error": error, "threads": threads, "ok": ok}))
    """)
    r = _finish(_spawn(code), 120.0, "set_num_threads(200) under RLIMIT_AS")
    assert r["error"] is not None and "200" in r["error"] and "set_num_threads" in r["error"], r
    assert r["threads"] == 2 and r["ok"], r  # the pool kept its previous size and still computes


def test_env_thread_count_beyond_what_the_system_allows_warns_and_starts_fewer():
    code = _script("""
        import json, warnings
        import numpy as np
        """, LIMIT_ADDRESS_SPACE.format(headroom=150), """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from lossgrad_ops.framework import cpu
            threads = cpu.num_threads()
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))  # room for data
        """, CHECK_POOL_WORKS, """
        print(json.dumps({"warnings": [str(w.message) for w in caught if w.category is RuntimeWarning],
                          "threads": threads, "ok": ok}))
    """)
    r = _finish(_spawn(code, **{ENV_VAR: "200"}), 120.0, f"{ENV_VAR}=200 under RLIMIT_AS")
    assert 1 <= r["threads"] < 200 and r["ok"], r
    assert any(ENV_VAR in w and "200" in w for w in r["warnings"]), r


# -- item 2: LOSSGRAD_NUM_THREADS is parsed strictly ----------------------------------------

ENV_REPORT = """
    import json, warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from lossgrad_ops.framework import cpu
        threads = cpu.num_threads()
    print(json.dumps({"threads": threads,
                      "warnings": [str(w.message) for w in caught if w.category is RuntimeWarning]}))
"""

BAD_ENV_VALUES = ["abc", "1e3", "4abc", "-1", "0", "99999999999", "18446744073709551619", " 3", "3.0", "1025"]
GOOD_ENV_VALUES = {"3": 3, "1": 1, "007": 7}


def test_env_thread_count_is_parsed_strictly():
    default = _finish(_spawn(ENV_REPORT), 60.0, "no env")  # the hardware thread count
    assert default["warnings"] == [] and default["threads"] >= 1
    procs = {v: _spawn(ENV_REPORT, **{ENV_VAR: v}) for v in BAD_ENV_VALUES + list(GOOD_ENV_VALUES) + [""]}
    reports = {v: _finish(p, 60.0, f"{ENV_VAR}={v!r}") for v, p in procs.items()}
    for value in BAD_ENV_VALUES:
        r = reports[value]
        assert r["threads"] == default["threads"], (value, r)  # not a wrapped or truncated value
        assert len(r["warnings"]) == 1, (value, r)
        assert ENV_VAR in r["warnings"][0] and repr(value) in r["warnings"][0], (value, r)
    for value, threads in GOOD_ENV_VALUES.items():
        assert reports[value] == {"threads": threads, "warnings": []}, (value, reports[value])
    assert reports[""] == default  # set but empty: as if unset


# -- item 10: set_num_threads checks its argument ---------------------------------------------

@pytest.mark.parametrize("n", [2**40, 2**32 + 3, 2**31, 2**64 + 2, 0, -1, -(2**64) + 3, 1025])
def test_set_num_threads_rejects_out_of_range_counts(n):
    before = cpu.num_threads()
    with pytest.raises(ValueError, match=r"set_num_threads: n must be"):
        cpu.set_num_threads(n)
    assert cpu.num_threads() == before


@pytest.mark.parametrize("n", [2.0, 3.5, "3", None, True, np.float64(2.0)])
def test_set_num_threads_rejects_non_integers(n):
    before = cpu.num_threads()
    with pytest.raises(TypeError, match=r"set_num_threads: n must be an integer"):
        cpu.set_num_threads(n)
    assert cpu.num_threads() == before


def test_set_num_threads_takes_numpy_integers():
    before = cpu.num_threads()
    try:
        cpu.set_num_threads(np.int64(3))
        assert cpu.num_threads() == 3
        cpu.set_num_threads(np.uint8(1))
        assert cpu.num_threads() == 1
    finally:
        cpu.set_num_threads(before)

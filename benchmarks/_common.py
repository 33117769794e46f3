"""Helpers shared by the benchmark scripts: size formatting and README table updates."""
from __future__ import annotations

import os
import statistics
import time

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def fmt_n(n: int) -> str:
    """1000 -> '1e3', 50000000 -> '5e7'."""
    exp = len(str(int(n))) - 1
    mant = n / 10 ** exp
    return f"1e{exp}" if mant == 1 else f"{mant:g}e{exp}"


def write_readme(text: str, marker: str, path: str = README) -> None:
    """Replace what stands between ``<!-- marker:begin -->`` and ``<!-- marker:end -->``."""
    if not os.path.exists(path):
        raise SystemExit(f"{path} does not exist")
    with open(path, encoding="utf-8") as f:
        readme = f.read()
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    if begin not in readme or end not in readme:
        raise SystemExit(f"README.md has no {begin} ... {end} markers")
    head, rest = readme.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{head}{begin}\n{text}\n{end}{tail}")


def time_in_turns(fns: dict, budget: float, min_rounds: int = 5, max_rounds: int = 300) -> dict:
    """Median wall time of each ``fns[key]()``, the calls taking turns round by round.

    Taking turns exposes every path to the same phases of machine noise, which keeps the ratios
    between them meaningful on a noisy machine (the ratios are what the tables report).
    """
    for fn in fns.values():
        fn()  # warm-up (page faults of fresh buffers, arenas, lazy initialisation)
    times = {key: [] for key in fns}
    start = time.perf_counter()
    rounds = 0
    while rounds < min_rounds or (time.perf_counter() - start < budget and rounds < max_rounds):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
        rounds += 1
    return {key: statistics.median(v) for key, v in times.items()}


def time_median(fn, budget: float, min_reps: int = 3, max_reps: int = 200) -> float:
    """Median wall time of ``fn()`` alone, after one warm-up call, over repetitions that fill about
    ``budget`` seconds (at least ``min_reps``, at most ``max_reps``)."""
    return time_in_turns({"fn": fn}, budget, min_reps, max_reps)["fn"]


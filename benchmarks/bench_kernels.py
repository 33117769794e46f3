"""Speed of the native CPU kernels, as ratios measured side by side in one run.

For every op, dtype and size it times, on the same inputs:
  * ``native``: ``framework.cpu.<op>`` writing into a preallocated output;
  * ``numpy``: the NumPy expression of the op (in the input dtype, as a NumPy
    user would write it);
  * ``floor``: one native pass that reads the same input bytes and writes the
    same output bytes doing nothing but an XOR (``framework.cpu.stream_floor``),
    on the same thread pool: the memory-bandwidth floor.
and prints ``numpy/native`` (speed-up, higher is better) and ``native/floor``
(1.0 is the floor) as a Markdown table. Each time is the median of repeated runs.

    python benchmarks/bench_kernels.py [--sizes 1e3,1e5,1e7] [--ops MseLossGrad] [--readme] [--plot PNG]

``--readme`` replaces the table between the ``bench-kernels`` markers in README.md. ``--plot``
draws time against size, one panel per dtype, every op against the floor (log-log; needs
matplotlib, not a dependency of the package: ``pip install matplotlib``).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


from lossgrad_ops.framework import cpu
from lossgrad_ops.framework.arrays import NP_DTYPES
from lossgrad_ops.framework.definitions import OPS
from lossgrad_ops.framework.registry import REFERENCE, function_name
from _common import fmt_n, time_in_turns, time_median, write_readme



def numpy_expr(op_name: str, inputs: list, scale) -> np.ndarray:
    """The op in plain NumPy, in the input dtype: its family's formula (framework.registry.REFERENCE),
    times the scale for a grad op, the mean for a loss."""
    formula = REFERENCE[op_name]
    attrs = {a.name: a.default for a in OPS[op_name].attributes[1:]}  # the declared defaults
    if OPS[op_name].is_loss:
        return np.mean(formula(np, *inputs, **attrs))
    return formula(np, *inputs, scale, **attrs)


def bench_one(op_name: str, dtype_name: str, n: int, rng: np.random.Generator) -> dict:
    op = OPS[op_name]
    dtype = NP_DTYPES[dtype_name]
    inputs = [rng.uniform(0.5, 2.0, n).astype(dtype) for _ in op.inputs]
    reduction = "mean"
    out = cpu.run(op_name, *inputs, reduction=reduction)
    scale = dtype.type(op.scale(reduction, n))
    floor_out = np.empty_like(out)
    # The kernel and the floor take turns, so that both see the same moments of the machine.
    t = time_in_turns({
        "native": lambda: cpu.run(op_name, *inputs, reduction=reduction) if out.ndim == 0 else
        getattr(cpu, function_name(op_name))(*inputs, reduction, out=out),
        "floor": lambda: cpu.stream_floor(inputs, floor_out)}, budget=0.6)
    t_numpy = time_median(lambda: numpy_expr(op_name, inputs, scale), budget=0.25)
    return {"op": op_name, "dtype": dtype_name, "n": n, "native": t["native"], "numpy": t_numpy, "floor": t["floor"]}


def table(rows: list) -> str:
    lines = ["| op | dtype | n | native ms | numpy/native | native/floor |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['op']} | {r['dtype']} | {fmt_n(r['n'])} | {r['native'] * 1e3:.3f} | "
                     f"{r['numpy'] / r['native']:.2f} | {r['native'] / r['floor']:.2f} |")
    return "\n".join(lines)


def plot(rows: list, path: str, header: str) -> None:
    """Time against size per dtype: a line per op, the floor of its byte count dashed."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("--plot needs matplotlib (pip install matplotlib); it is not a dependency of lossgrad-ops")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dtypes = list(dict.fromkeys(r["dtype"] for r in rows))
    ops = list(dict.fromkeys(r["op"] for r in rows))
    fig, axes = plt.subplots(1, len(dtypes), figsize=(4.2 * len(dtypes), 4.2), sharey=True, squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, dt in zip(axes[0], dtypes):
        for k, op in enumerate(ops):
            pts = sorted((r["n"], r["native"], r["floor"]) for r in rows if r["dtype"] == dt and r["op"] == op)
            if not pts:
                continue
            n, native, floor = (np.array(v) for v in zip(*pts))
            color = colors[k % len(colors)]
            ax.loglog(n, native * 1e3, "o-", color=color, label=op, markersize=3)
            ax.loglog(n, floor * 1e3, "--", color=color, linewidth=0.8, alpha=0.7)
        ax.set_title(dt)
        ax.set_xlabel("elements")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("ms (dashed: the floor of the same bytes)")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(header, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e3,1e5,1e6,1e7,5e7")
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--dtypes", default=",".join(NP_DTYPES))
    ap.add_argument("--readme", action="store_true", help="write the table into README.md")
    ap.add_argument("--plot", metavar="PNG", help="draw time vs size per dtype against the floor (matplotlib)")
    args = ap.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    rng = np.random.default_rng(0)
    rows = []
    combos = [(o, d, n) for o in args.ops.split(",") for d in args.dtypes.split(",") for n in sizes]
    t0 = time.time()
    for i, (o, d, n) in enumerate(combos, 1):
        rows.append(bench_one(o, d, n, rng))
        r = rows[-1]
        print(f"[{i}/{len(combos)} {time.time() - t0:.0f}s] {o} {d} {fmt_n(n)}: native {r['native'] * 1e3:.3f} ms, "
              f"numpy/native {r['numpy'] / r['native']:.2f}, native/floor {r['native'] / r['floor']:.2f}",
              file=sys.stderr, flush=True)
    header = (f"threads: {cpu.num_threads()}, instruction set: {cpu.isa()}, reduction mean, equal shapes, "
              f"uniform data; numpy {np.__version__}")
    text = f"{header}\n\n{table(rows)}"
    print(text)
    if args.readme:
        write_readme(text, "bench-kernels")
    if args.plot:
        plot(rows, args.plot, header)


if __name__ == "__main__":
    main()

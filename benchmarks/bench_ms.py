"""Forward + backward of ms_ops losses vs MindSpore's nn losses with autodiff, one run.

For each drop-in loss Cell of ``ms_ops`` (one per family that names one), dtype, size and
mode (PyNative, GRAPH_MODE) it times ``value_and_grad`` of the loss w.r.t. the prediction,
with the ``ms_ops`` Cell (native kernels; the backward runs the family's grad op) and
with the ``mindspore.nn`` Cell of the same name (MindSpore's composite with autodiff), on the
same inputs, reduction mean, and prints ``builtin / ms_ops`` (speed-up, higher is better).
MindSpore's built-in losses have no bfloat16 kernels on CPU: those rows say n/a.

When PyTorch is importable (optional: not a dependency of the package or of this script), a
PyTorch CPU column times the ``torch.nn`` loss of the same name (forward, then ``backward()``
w.r.t. the prediction, eager) on the same values and dtype, and ``torch / ms_ops``; ``--no-torch``
leaves it out. PyTorch runs on its own thread pool (``torch.get_num_threads()``).

    python benchmarks/bench_ms.py [--sizes 1e3,1e5,1e6,1e7] [--dtypes float32] [--readme]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import mindspore as ms
from mindspore import Tensor, nn, ops

from lossgrad_ops import ms_ops
from _common import fmt_n, time_median, write_readme
from lossgrad_ops.ms_ops._registry import MS_DTYPES

#: every drop-in Cell of ms_ops and the mindspore.nn Cell it replaces
LOSSES = {name: (getattr(ms_ops, name), getattr(nn, name)) for name in ms_ops.nn.__all__}


class FwdBwd(nn.Cell):
    def __init__(self, loss: nn.Cell) -> None:
        super().__init__()
        self.vg = ops.value_and_grad(loss, grad_position=0)

    def construct(self, p, l):
        return self.vg(p, l)


def _wait(out) -> None:
    out[1].asnumpy()  # wait for the result


def timeit(fn, wait=_wait) -> float:
    """Median seconds of ``wait(fn())`` (the first call compiles and warms up)."""
    return time_median(lambda: wait(fn()), budget=0.4, min_reps=3, max_reps=100)


def _torch():
    """PyTorch if it is importable (an optional column), else None."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_fwd_bwd(torch, loss: str, p_np: np.ndarray, l_np: np.ndarray, dt: str):
    """Seconds for forward + backward of ``torch.nn.<loss>`` (mean) w.r.t. the prediction, or None
    when PyTorch has no such loss or no CPU kernel for the dtype."""
    cls = getattr(torch.nn, loss, None)
    if cls is None:
        return None
    tdt = getattr(torch, dt)
    p = torch.from_numpy(p_np).to(tdt).requires_grad_(True)
    l = torch.from_numpy(l_np).to(tdt)
    fn = cls(reduction="mean")

    def step():
        p.grad = None
        out = fn(p, l)
        out.backward()
        return out, p.grad

    try:
        return timeit(step, wait=lambda out: None)  # eager: the work is done when backward() returns
    except (RuntimeError, TypeError, NotImplementedError):  # no CPU kernel for this dtype
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e3,1e4,1e5,1e6,1e7")
    ap.add_argument("--dtypes", default="float32,float64,float16,bfloat16")
    ap.add_argument("--losses", default=",".join(LOSSES))
    ap.add_argument("--readme", action="store_true")
    ap.add_argument("--no-torch", action="store_true", help="leave out the PyTorch column")
    args = ap.parse_args()
    torch = None if args.no_torch else _torch()
    torch_times = {}  # (loss, dtype, n) -> seconds: PyTorch is eager in both modes' rows
    rows = []
    rng = np.random.default_rng(0)
    combos = [(m, l, d, int(float(n))) for m in ("pynative", "graph") for l in args.losses.split(",")
              for d in args.dtypes.split(",") for n in args.sizes.split(",")]
    t_start = time.time()
    for i, (mode, loss, dt, n) in enumerate(combos, 1):
        ms.set_context(mode=ms.PYNATIVE_MODE if mode == "pynative" else ms.GRAPH_MODE)
        p_np, l_np = rng.uniform(-1, 1, n).astype(np.float32), rng.uniform(-1, 1, n).astype(np.float32)
        p, l = Tensor(p_np, MS_DTYPES[dt]), Tensor(l_np, MS_DTYPES[dt])
        ours_cls, theirs_cls = LOSSES[loss]
        ours_net, theirs_net = FwdBwd(ours_cls(reduction="mean")), FwdBwd(theirs_cls(reduction="mean"))
        t_ours = timeit(lambda: ours_net(p, l))
        try:
            t_theirs = timeit(lambda: theirs_net(p, l))
        except (RuntimeError, TypeError, ValueError):  # no CPU kernel for this dtype
            t_theirs = None
        if torch is not None and (loss, dt, n) not in torch_times:
            torch_times[loss, dt, n] = torch_fwd_bwd(torch, loss, p_np, l_np, dt)
        t_torch = torch_times.get((loss, dt, n))
        rows.append((mode, loss, dt, n, t_ours, t_theirs, t_torch))
        ratio = f"{t_theirs / t_ours:.2f}" if t_theirs else "n/a"
        extra = f", torch/ms_ops {t_torch / t_ours:.2f}" if t_torch else ""
        print(f"[{i}/{len(combos)} {time.time() - t_start:.0f}s] {mode} {loss} {dt} {fmt_n(n)}: "
              f"ms_ops {t_ours * 1e3:.3f} ms, builtin/ms_ops {ratio}{extra}", file=sys.stderr, flush=True)
    head = "| mode | loss | dtype | n | ms_ops fwd+bwd ms | nn.* fwd+bwd ms | nn.* / ms_ops |"
    rule = "|---|---|---|---:|---:|---:|---:|"
    if torch is not None:
        head += " torch fwd+bwd ms | torch / ms_ops |"
        rule += "---:|---:|"
    lines = [head, rule]
    for mode, loss, dt, n, a, b, c in rows:
        line = (f"| {mode} | {loss} | {dt} | {fmt_n(n)} | {a * 1e3:.3f} | "
                f"{'n/a' if b is None else f'{b * 1e3:.3f}'} | {'n/a' if b is None else f'{b / a:.2f}'} |")
        if torch is not None:
            line += f" {'n/a' if c is None else f'{c * 1e3:.3f}'} | {'n/a' if c is None else f'{c / a:.2f}'} |"
        lines.append(line)
    torch_note = (f"; PyTorch {torch.__version__} CPU ({torch.get_num_threads()} threads), eager forward + "
                  f"backward()" if torch is not None else "")
    text = (f"mindspore {ms.__version__}, CPU, reduction mean, value_and_grad w.r.t. the prediction{torch_note}\n\n"
            + "\n".join(lines))
    print(text)
    if args.readme:
        write_readme(text, "bench-ms")


if __name__ == "__main__":
    main()

"""Data-parallel training with the lossgrad ops: run under ``msrun`` with 2 CPU workers.

    msrun --worker_num=2 --local_worker_num=2 --master_port=8118 --log_dir=runs/dp_logs \\
          --join=True examples/data_parallel.py --out runs/dp

Each rank trains the same network with ``ms_ops.MSELoss`` on its own shard of the
data; MindSpore all-reduces the gradients (``ParallelMode.DATA_PARALLEL``), so
both ranks must end with identical weights. Each rank writes its final weights
and loss curve to ``<out>/rank_<id>.npz``.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import mindspore as ms
from mindspore import Tensor, nn
from mindspore.communication import get_group_size, get_rank, init

from lossgrad_ops import ms_ops


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/dp")
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    init()
    rank, size = get_rank(), get_group_size()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True)

    rng = np.random.default_rng(0)  # same data on every rank; each takes its own shard
    x = rng.standard_normal((256, 8)).astype(np.float32)
    y = (x @ rng.standard_normal((8, 1)) + 0.1).astype(np.float32)
    xs, ys = x[rank::size], y[rank::size]

    ms.set_seed(3)
    net = nn.SequentialCell(nn.Dense(8, 16), nn.ReLU(), nn.Dense(16, 1))
    step = nn.TrainOneStepCell(nn.WithLossCell(net, ms_ops.MSELoss()), nn.SGD(net.trainable_params(), 0.05))
    step.set_train()
    curve = []
    for i in range(args.steps):
        curve.append(float(step(Tensor(xs), Tensor(ys)).asnumpy()))
        if i % 10 == 0 or i == args.steps - 1:
            print(f"[rank {rank}/{size}] step {i + 1}/{args.steps} loss {curve[-1]:.6f}", flush=True)
    os.makedirs(args.out, exist_ok=True)
    weights = {p.name: p.asnumpy() for p in net.trainable_params()}
    np.savez(os.path.join(args.out, f"rank_{rank}.npz"), curve=np.array(curve), **weights)


if __name__ == "__main__":
    main()

"""Main example: train with the lossgrad ops in MindSpore, export to ONNX, run in onnxruntime.

1. Train a small regression network on synthetic data in GRAPH_MODE with
   ``ms_ops.MSELoss`` and, from the very same initial weights, with MindSpore's
   ``nn.MSELoss``; the loss curves must agree. The same for ``ms_ops.L1Loss``.
2. Export a network that uses the ops in its forward graph (the prediction,
   its MSE loss, and the loss gradient through ``ms_ops.mse_loss_backward``) to
   ONNX with ``onnx_ops.export``: the ops become ``ai.lossgrad`` nodes.
3. Check the model, then run it in onnxruntime with the native kernel library
   and with the function bodies only, and compare both with MindSpore (without
   the native library, built only when onnxruntime's headers were found, the
   function bodies run alone, and the example says so).

Run: ``python examples/train_and_export.py [--epochs 60] [--out runs]``.
Exits non-zero if any comparison fails.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import mindspore as ms
from mindspore import Tensor, nn

from lossgrad_ops import ms_ops
from lossgrad_ops import onnx_ops


def make_data(n: int = 512, features: int = 8, seed: int = 0):
    """y = x @ w + 0.5 sin(x0) + noise: a smooth target the MLP can fit."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    w = rng.standard_normal((features, 1)).astype(np.float32)
    y = x @ w + 0.5 * np.sin(x[:, :1]) + 0.05 * rng.standard_normal((n, 1)).astype(np.float32)
    return x, y.astype(np.float32)


def make_net(features: int, seed: int) -> nn.Cell:
    ms.set_seed(seed)  # the same seed gives the same initial weights
    return nn.SequentialCell(nn.Dense(features, 32), nn.ReLU(), nn.Dense(32, 1))


def train(loss_fn: nn.Cell, x: np.ndarray, y: np.ndarray, epochs: int, seed: int, label: str,
          batch: int = 64) -> tuple:
    """Mini-batch SGD with momentum; returns (per-epoch mean loss, trained net)."""
    net = make_net(x.shape[1], seed)
    step = nn.TrainOneStepCell(nn.WithLossCell(net, loss_fn), nn.Momentum(net.trainable_params(), 0.02, 0.9))
    step.set_train()
    curve = []
    t0 = time.time()
    for epoch in range(epochs):
        losses = [float(step(Tensor(x[i:i + batch]), Tensor(y[i:i + batch])).asnumpy())
                  for i in range(0, len(x), batch)]
        curve.append(float(np.mean(losses)))
        if epoch % max(1, epochs // 6) == 0 or epoch == epochs - 1:
            print(f"  [{label}] epoch {epoch + 1:3d}/{epochs}  loss {curve[-1]:.6f}  ({time.time() - t0:.1f}s)",
                  flush=True)
    return np.array(curve), net


class PredictLossGrad(nn.Cell):
    """Forward graph for export: prediction, MSE loss and d loss / d prediction."""

    def __init__(self, net: nn.Cell) -> None:
        super().__init__()
        self.net = net

    def construct(self, x, y):
        pred = self.net(x)
        loss = ms_ops.mse_loss(pred, y, "mean")
        dpred = ms_ops.mse_loss_backward(ms.ops.ones_like(loss), pred, y, "mean")
        l1 = ms_ops.l1_loss(pred, y, "sum")
        return pred, loss, dpred, l1


def compare_curves(name: str, ours: np.ndarray, theirs: np.ndarray) -> bool:
    rel = float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12)))
    ok = rel < 1e-4
    print(f"  {name}: final loss {ours[-1]:.6f} vs {theirs[-1]:.6f}; max relative difference over "
          f"{len(ours)} epochs {rel:.2e} -> {'OK' if ok else 'MISMATCH'}")
    return ok


def run_in_onnxruntime(model, feeds: dict, expected: list) -> bool:
    """Run the model in onnxruntime with the native kernels (when the library was built) and with
    the function bodies only; compare each run with ``expected``."""
    runs = {}
    if onnx_ops.native_available():
        runs["onnxruntime + native kernels"] = onnx_ops.inference_session(model, native=True)
    else:
        print(f"  note: the native onnxruntime library is not built here or not usable ({onnx_ops.native_status()}); "
              "running the ONNX function bodies only")
    runs["onnxruntime + function bodies"] = onnx_ops.inference_session(model, native=False)
    ok = True
    for name, session in runs.items():
        got = session.run(None, feeds)
        # The Dense layers run as different float32 matmuls in the two frameworks, so
        # outputs are compared relative to each output's scale (float32 rounding level).
        err = max(float(np.max(np.abs(g - e)) / max(float(np.max(np.abs(e))), 1e-30)) for g, e in zip(got, expected))
        good = err < 1e-5
        ok &= good
        print(f"  {name}: max difference to MindSpore {err:.2e} of the output's scale "
              f"-> {'OK' if good else 'MISMATCH'}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--out", default="runs", help="directory for the exported model")
    args = ap.parse_args()
    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    x, y = make_data()
    ok = True

    print(f"1. Training in GRAPH_MODE on {len(x)} samples ({args.epochs} epochs), same seed for both losses")
    ours, net = train(ms_ops.MSELoss(), x, y, args.epochs, seed=1, label="ms_ops.MSELoss")
    theirs, _ = train(nn.MSELoss(), x, y, args.epochs, seed=1, label="nn.MSELoss   ")
    ok &= compare_curves("MSE", ours, theirs)
    l1_epochs = max(2, args.epochs // 3)
    ours_l1, _ = train(ms_ops.L1Loss(), x, y, l1_epochs, seed=2, label="ms_ops.L1Loss")
    theirs_l1, _ = train(nn.L1Loss(), x, y, l1_epochs, seed=2, label="nn.L1Loss    ")
    ok &= compare_curves("L1", ours_l1, theirs_l1)

    print("2. Exporting prediction + MseLoss + MseLossGrad + L1Loss to ONNX")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "predict_loss_grad.onnx")
    export_net = PredictLossGrad(net)
    xs, ys = Tensor(x[:16]), Tensor(y[:16])
    model = onnx_ops.export(export_net, xs, ys, file_name=path)
    ops_found = sorted({f"{n.domain}::{n.op_type}" for n in model.graph.node if n.domain == "ai.lossgrad"})
    print(f"  wrote {path}: {len(model.graph.node)} nodes; custom ops {ops_found}; "
          f"functions {[f.name for f in model.functions]}")

    print("3. Running the exported model and comparing with MindSpore")
    expected = [t.asnumpy() for t in export_net(xs, ys)]
    feeds = {model.graph.input[0].name: x[:16], model.graph.input[1].name: y[:16]}
    ok &= run_in_onnxruntime(model, feeds, expected)

    ran_on = "native kernels and function bodies" if onnx_ops.native_available() else "function bodies only"
    print(f"done: all checks passed (onnxruntime ran on {ran_on})" if ok else "FAILED: see the mismatches above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Speed of the ai.lossgrad ops in onnxruntime, as ratios measured side by side in one run.

For every op, dtype and size it times one onnxruntime session per path, on the
same inputs (equal shapes, reduction ``mean``):
  * ``native``: the ai.lossgrad node run by the custom-op library (the shared
    C++ kernel core on onnxruntime's intra-op thread pool);
  * ``function``: the same node run from its ONNX function body (no library);
  * ``plain``: the same computation written as a plain standard-op graph, as
    one would without lossgrad-ops: the family's elementwise nodes (its ONNX body
    builder, without the rank guard), times the scale as a constant for a grad op,
    ``ReduceMean`` of them for a loss, in the tensor dtype (bfloat16 through Cast to float32 and back: the CPU
    execution provider has no bfloat16 arithmetic).
and prints the times and ``plain/native``, ``plain/function`` (speed-ups,
higher is better) as a Markdown table. Each time is the median of repeated
``InferenceSession.run_with_ort_values`` calls with inputs already in OrtValues,
the three paths called in turn, round after round.

    python benchmarks/bench_onnx.py [--sizes 1e3,1e5,1e7] [--ops MseLossGrad] [--dtypes float32] [--readme]

``--readme`` replaces the table between the ``bench-onnx`` markers in README.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


import onnx
import onnxruntime as ort
from onnx import helper

from lossgrad_ops import onnx_ops
from lossgrad_ops.framework.arrays import NP_DTYPES
from lossgrad_ops.framework.definitions import OPS
from lossgrad_ops.framework.registry import ONNX_BODIES
from lossgrad_ops.onnx_ops.functions import _Body
from _common import fmt_n, time_in_turns, write_readme
from lossgrad_ops.onnx_ops.models import Call, build_model, input_names

REDUCTION = "mean"
# native must beat plain by this factor at each of these sizes (issue 12)
ACCEPTANCE = ("MseLossGrad", "float32", (1_000_000, 10_000_000), 1.7)


def plain_model(op_name: str, dtype: str, n: int) -> onnx.ModelProto:
    """The op as a plain standard-op graph (see the module docstring)."""
    op = OPS[op_name]
    elem = onnx_ops.ONNX_DTYPES[dtype]
    compute = "float32" if dtype == "bfloat16" else dtype
    celem = onnx_ops.ONNX_DTYPES[compute]
    names = input_names(op_name, 0)
    nodes = []
    x = []
    for name in names:
        if compute != dtype:
            nodes.append(helper.make_node("Cast", [name], [name + "_c"], to=celem))
            name += "_c"
        x.append(name)
    out = f"{op.output}_0"
    last = out + "_c" if compute != dtype else out
    body = _Body(compute)  # the family's elementwise nodes (framework.registry.ONNX_BODIES), without the rank guard
    value = ONNX_BODIES[op_name](body, x, **{a.name: a.default for a in op.attributes[1:]})  # declared defaults
    nodes += body.nodes
    if not op.is_loss:
        scale = helper.make_tensor("s", celem, [], [op.scale(REDUCTION, n)])
        nodes.append(helper.make_node("Constant", [], ["s"], value=scale))
        nodes.append(helper.make_node("Mul", [value, "s"], [last]))
    else:
        nodes.append(helper.make_node("ReduceMean", [value], [last], keepdims=0))
    if compute != dtype:
        nodes.append(helper.make_node("Cast", [last], [out], to=elem))
    out_shape = [] if op.is_loss else [n]
    graph = helper.make_graph(nodes, "plain", [helper.make_tensor_value_info(nm, elem, [n]) for nm in names],
                              [helper.make_tensor_value_info(out, elem, out_shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    onnx.checker.check_model(model, full_check=True)
    return model


def _ort_value(a: np.ndarray, dtype: str) -> ort.OrtValue:
    if dtype == "bfloat16":  # no NumPy bfloat16 in onnxruntime's Python API: pass the bits
        return ort.OrtValue.ortvalue_from_numpy_with_onnx_type(a.view(np.uint16), onnx_ops.ONNX_DTYPES[dtype])
    return ort.OrtValue.ortvalue_from_numpy(a)


def _session(model: onnx.ModelProto, native: bool, threads: int, spinning: bool) -> ort.InferenceSession:
    so = onnx_ops.session_options(native=native)
    if threads:
        so.intra_op_num_threads = threads
    # Each session has its own intra-op pool. With spinning on (onnxruntime's default), the pools of
    # the sessions that just ran keep their threads spinning for a while, on the same two cores as
    # the session being timed: every path then measured up to 2x slower, by an amount that changed
    # from run to run (this, not the kernels, made plain/native swing between 1.5x and 2.7x).
    # A single-session application does not have that contention, so the paths are timed without it.
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def bench_one(op_name: str, dtype: str, n: int, rng: np.random.Generator, threads: int,
              budget: float, spinning: bool = False) -> dict:
    op = OPS[op_name]
    call = Call(op_name, ((n,),) * len(op.inputs), dtype, REDUCTION)
    node_model = build_model([call], functions=False, check=False)
    models = {"function": onnx_ops.add_functions(node_model), "plain": plain_model(op_name, dtype, n)}
    if onnx_ops.native_available():
        models["native"] = node_model
    inputs = [rng.uniform(0.5, 2.0, n).astype(NP_DTYPES[dtype]) for _ in op.inputs]
    feeds = dict(zip(input_names(op_name, 0), (_ort_value(a, dtype) for a in inputs)))
    fns = {}
    for path, model in models.items():
        session = _session(model, native=path == "native", threads=threads, spinning=spinning)
        out_names = [o.name for o in session.get_outputs()]
        fns[path] = lambda s=session, o=out_names: s.run_with_ort_values(o, feeds)
    return {"op": op_name, "dtype": dtype, "n": n, **time_in_turns(fns, budget)}


def _ratio(row: dict, a: str, b: str) -> str:
    return f"{row[a] / row[b]:.2f}" if a in row and b in row else "n/a"


def _ms(row: dict, key: str) -> str:
    return f"{row[key] * 1e3:.3f}" if key in row else "n/a"


def table(rows: list) -> str:
    lines = ["| op | dtype | n | native ms | function ms | plain ms | plain/native | plain/function |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['op']} | {r['dtype']} | {fmt_n(r['n'])} | {_ms(r, 'native')} | {_ms(r, 'function')} | "
                     f"{_ms(r, 'plain')} | {_ratio(r, 'plain', 'native')} | {_ratio(r, 'plain', 'function')} |")
    return "\n".join(lines)


def acceptance(rows: list) -> str:
    op, dtype, sizes, factor = ACCEPTANCE
    lines = []
    for n in sizes:
        row = next((r for r in rows if (r["op"], r["dtype"], r["n"]) == (op, dtype, n) and "native" in r), None)
        if row is None:
            lines.append(f"Acceptance: not measured ({op} {dtype} {fmt_n(n)} native not in this run).")
            continue
        speedup = row["plain"] / row["native"]
        verdict = "meets" if speedup >= factor else "MISSES"
        lines.append(f"Acceptance: native {op} {dtype} at {fmt_n(n)} is {speedup:.2f}x faster than the plain "
                     f"standard-op graph ({verdict} the >= {factor}x target).")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e3,1e4,1e5,1e6,1e7")
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--dtypes", default=",".join(NP_DTYPES))
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: onnxruntime's default)")
    ap.add_argument("--budget", type=float, default=0.6, help="seconds of timing per (op, dtype, size)")
    ap.add_argument("--spinning", action="store_true",
                    help="leave onnxruntime's intra-op spinning on (its default; see _session)")
    ap.add_argument("--readme", action="store_true", help="write the table into README.md")
    args = ap.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    for name in args.ops.split(","):
        if name not in OPS:
            raise SystemExit(f"unknown op {name!r}; known: {', '.join(OPS)}")
    rng = np.random.default_rng(0)
    combos = [(o, d, n) for o in args.ops.split(",") for d in args.dtypes.split(",") for n in sizes]
    rows = []
    t0 = time.time()
    for i, (o, d, n) in enumerate(combos, 1):
        rows.append(bench_one(o, d, n, rng, args.threads, args.budget, args.spinning))
        r = rows[-1]
        print(f"[{i}/{len(combos)} {time.time() - t0:.0f}s] {o} {d} {fmt_n(n)}: native {_ms(r, 'native')} ms, "
              f"function {_ms(r, 'function')} ms, plain {_ms(r, 'plain')} ms", file=sys.stderr, flush=True)
    threads = args.threads or f"default ({os.cpu_count()} cores)"
    header = (f"onnxruntime {ort.__version__}, intra-op threads: {threads} (spinning "
              f"{'on' if args.spinning else 'off'}), reduction {REDUCTION}, equal shapes; "
              f"native library: {'yes' if onnx_ops.native_available() else 'not built'}")
    text = f"{header}\n\n{table(rows)}\n\n{acceptance(rows)}"
    print(text)
    if args.readme:
        write_readme(text, "bench-onnx")


if __name__ == "__main__":
    main()

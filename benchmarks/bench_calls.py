"""Per-call cost of small calls (1e3 float32 by default), every face side by side in one run.

Measures the fixed per-call overhead of each face of one grad op (``--op``, default
``MseLossGrad``, reduction ``mean``) against what it wraps and against the framework's own
cheapest op:

  * NumPy face: ``framework.cpu.<op>`` vs the raw ctypes call of the native library it
    makes (prebuilt arguments) vs ``np.add``;
  * MindSpore PyNative: ``ms_ops.<op>`` vs the raw ``Custom`` primitive call it wraps vs
    ``ops.add`` vs the composite ``(a - b) * c * s``;
  * the same four under ``mindspore.jit``;
  * onnxruntime: the native ai.lossgrad node vs a graph of one ``Add`` node;
  * with ``--custom-op-builder`` (MindSpore >= 2.6, needs a C++ compiler now): the same native
    kernel through MindSpore's newer custom-op path, ``ops.CustomOpBuilder``
    (benchmarks/custom_op_builder_probe.cpp, built at first use, PyNative only), beside the PyNative
    rows, with the time its build and load took. A measurement only: ms_ops does not use that path.

Each time is per call: ``--calls`` calls in a loop (MindSpore: then one wait for the last
result, so the asynchronous launch pipeline is included), the best of ``--repeats`` loops;
the loops of one group are interleaved. Prints the times in µs and the ratios.

    python benchmarks/bench_calls.py [--n 1000] [--op MseLossGrad] [--calls 2000] [--repeats 7]
"""
from __future__ import annotations

import argparse
import ctypes
import time
from typing import Callable, Dict

import numpy as np

from lossgrad_ops.framework import cpu
from lossgrad_ops.framework.definitions import OPS
from lossgrad_ops.framework.registry import function_name


def per_call(fns: Dict[str, Callable[[], object]], calls: int, repeats: int,
             sync: Callable[[object], None] = lambda r: None) -> Dict[str, float]:
    """Seconds per call of each ``fns[key]()``: best of ``repeats`` loops of ``calls`` calls."""
    for fn in fns.values():
        for _ in range(20):
            sync(fn())  # warm-up: compilation, caches
    best = {key: float("inf") for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                r = fn()
            sync(r)
            best[key] = min(best[key], (time.perf_counter() - t0) / calls)
    return best


def _us(t: float) -> str:
    return f"{t * 1e6:8.2f} µs"


def report(title: str, times: Dict[str, float], ratios) -> None:
    print(f"\n{title}")
    for key, t in times.items():
        print(f"  {key:<34} {_us(t)}")
    for a, b in ratios:
        if a in times and b in times:
            print(f"  {a} / {b}: {times[a] / times[b]:.2f}x")


def numpy_face(op_name: str, n: int, rng, calls: int, repeats: int) -> None:
    op = OPS[op_name]
    xs = [rng.uniform(-1, 1, n).astype(np.float32) for _ in op.inputs]
    face = getattr(cpu, function_name(op_name))
    # the raw ctypes call of lossgrad_run the face makes, arguments built once
    lib = cpu._library()
    out = np.empty(n if not op.is_loss else (), np.float32)
    refs = (cpu._TensorRef * len(xs))(*[cpu._ref(a) for a in xs])
    out_ref = cpu._ref(out)
    attrs = cpu._attr_array(op, dict(op.attribute_values("mean")))
    err = ctypes.create_string_buffer(1024)
    run = lib.lossgrad_run
    raw = lambda: run(op.native_id, attrs, len(xs), refs, ctypes.byref(out_ref), err, len(err))  # noqa: E731
    a, b = xs[0], xs[1]
    times = per_call({"cpu." + face.__name__: lambda: face(*xs), "raw ctypes lossgrad_run": raw,
                      "np.add": lambda: np.add(a, b)}, calls, repeats)
    report(f"NumPy face, {op_name} {n} float32 (threshold for threads: {cpu.parallel_threshold()})", times,
           [("cpu." + face.__name__, "raw ctypes lossgrad_run"), ("cpu." + face.__name__, "np.add")])
    t = times["cpu." + face.__name__]
    print(f"  target: NumPy face <= 15 µs: {'meets' if t <= 15e-6 else 'MISSES'} ({t * 1e6:.1f} µs)")


def custom_op_builder_probe(op_name: str):
    """(a callable of the op's three tensors running the native kernel through ops.CustomOpBuilder, seconds
    its build and load took), or (None, why not)."""
    import os
    import tempfile

    from mindspore import ops

    from lossgrad_ops.framework.definitions import DTYPES

    if not hasattr(ops, "CustomOpBuilder"):
        return None, "this MindSpore has no ops.CustomOpBuilder (>= 2.6)"
    op = OPS[op_name]
    if op.is_loss or len(op.inputs) != 3:
        return None, "the probe takes a grad op of 3 same-shape inputs"
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "custom_op_builder_probe.cpp")
    build_dir = os.path.join(tempfile.gettempdir(), f"lossgrad_cob_probe_{os.getuid()}")
    t0 = time.perf_counter()
    try:
        module = ops.CustomOpBuilder("lossgrad_cob_probe", [source], backend="CPU", build_dir=build_dir).load()
    except Exception as exc:  # noqa: BLE001 - no compiler, headers missing, ...: reported, not fatal
        return None, f"build failed: {exc}"
    seconds = time.perf_counter() - t0
    lib = cpu._library()
    attrs = cpu._attr_array(op, dict(op.attribute_values("mean")))  # kept alive by the closure
    run_addr = ctypes.cast(lib.lossgrad_run, ctypes.c_void_p).value
    dtype = DTYPES.index("float32")

    def call(a, b, c, _attrs=attrs):
        return module.run(a, b, c, run_addr, op.native_id, ctypes.addressof(_attrs), dtype)
    return call, seconds


def mindspore_faces(op_name: str, n: int, rng, calls: int, repeats: int, probe: bool = False) -> None:
    try:
        import mindspore as ms
        from mindspore import Tensor, ops
    except ImportError:
        print("\nMindSpore: not installed, skipped")
        return
    from lossgrad_ops import ms_ops
    from lossgrad_ops.ms_ops import primitives

    op = OPS[op_name]
    if op.is_loss or len(op.inputs) != 3:
        print(f"\nMindSpore: the composite is written for a grad op of 3 inputs; {op_name} skipped")
        return
    ms.set_context(mode=ms.PYNATIVE_MODE, device_target="CPU")
    xs = [Tensor(rng.uniform(-1, 1, n).astype(np.float32)) for _ in op.inputs]
    a, b, c = xs
    s = Tensor(np.float32(op.scale("mean", n)))
    fn = getattr(ms_ops, function_name(op_name))
    attrs = tuple(op.attribute_values("mean").items())
    prim = primitives.get_primitive(op_name, attrs)  # the Custom primitive the function calls
    sync = lambda r: r.asnumpy()  # noqa: E731
    name = "ms_ops." + fn.__name__
    eager = {name: lambda: fn(a, b, c), "raw Custom primitive": lambda: prim(a, b, c),
             "ops.add": lambda: ops.add(a, b), "(a - b) * c * s": lambda: (a - b) * c * s}
    if probe:
        cob, info = custom_op_builder_probe(op_name)
        if cob is None:
            print(f"\nCustomOpBuilder probe: not measured ({info})")
        else:
            print(f"\nCustomOpBuilder probe: built and loaded in {info:.1f} s (a compiler at first use)")
            diff = np.abs(cob(a, b, c).asnumpy() - fn(a, b, c).asnumpy()).max()
            print(f"  max |probe - ms_ops| = {diff:.3g}")
            eager["CustomOpBuilder probe"] = lambda: cob(a, b, c)
    times = per_call(eager, calls, repeats, sync)
    report(f"MindSpore {ms.__version__} PyNative, {op_name} {n} float32", times,
           [(name, "raw Custom primitive"), (name, "ops.add"), (name, "(a - b) * c * s"),
            ("CustomOpBuilder probe", "(a - b) * c * s"), ("CustomOpBuilder probe", name)])
    t = times[name] / times["raw Custom primitive"]
    print(f"  target: ms_ops <= 1.3x the raw primitive: {'meets' if t <= 1.3 else 'MISSES'} ({t:.2f}x)")

    def jitted(f):
        return ms.jit(f)

    @jitted
    def j_ours(x, y, z):
        return fn(x, y, z)

    @jitted
    def j_raw(x, y, z):
        return prim(x, y, z)

    @jitted
    def j_add(x, y):
        return ops.add(x, y)

    @jitted
    def j_composite(x, y, z, k):
        return (x - y) * z * k

    compiled = {name: lambda: j_ours(a, b, c), "raw Custom primitive": lambda: j_raw(a, b, c),
                "ops.add": lambda: j_add(a, b), "(a - b) * c * s": lambda: j_composite(a, b, c, s)}
    times = per_call(compiled, max(calls // 4, 50), repeats, sync)
    report("the same under mindspore.jit", times,
           [(name, "raw Custom primitive"), (name, "(a - b) * c * s"), (name, "ops.add")])


def onnxruntime_faces(op_name: str, n: int, rng, calls: int, repeats: int) -> None:
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from lossgrad_ops import onnx_ops
    from lossgrad_ops.onnx_ops.models import Call, build_model, input_names

    if not onnx_ops.native_available():
        print(f"\nonnxruntime: native library not available ({onnx_ops.native_status()}), skipped")
        return
    op = OPS[op_name]
    node_model = build_model([Call(op_name, ((n,),) * len(op.inputs), "float32", "mean")], functions=False,
                             check=False)
    vi = lambda nm: helper.make_tensor_value_info(nm, TensorProto.FLOAT, [n])  # noqa: E731
    add_model = helper.make_model(
        helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "add", [vi("a"), vi("b")], [vi("y")]),
        opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    so = onnx_ops.session_options(native=True)
    native = ort.InferenceSession(node_model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    add = ort.InferenceSession(add_model.SerializeToString(), providers=["CPUExecutionProvider"])
    xs = [ort.OrtValue.ortvalue_from_numpy(rng.uniform(-1, 1, n).astype(np.float32)) for _ in op.inputs]
    feeds = dict(zip(input_names(op_name, 0), xs))
    add_feeds = {"a": xs[0], "b": xs[1]}
    out_native = [o.name for o in native.get_outputs()]
    times = per_call({f"native {op_name} node": lambda: native.run_with_ort_values(out_native, feeds),
                      "Add node": lambda: add.run_with_ort_values(["y"], add_feeds)}, calls, repeats)
    report(f"onnxruntime {ort.__version__}, {op_name} {n} float32 (run_with_ort_values)", times,
           [(f"native {op_name} node", "Add node")])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=float, default=1e3)
    ap.add_argument("--op", default="MseLossGrad")
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--custom-op-builder", action="store_true",
                    help="also measure the kernel through ops.CustomOpBuilder (compiles a probe now)")
    ap.add_argument("--skip", default="", help="comma-separated faces to skip: numpy,mindspore,onnxruntime")
    args = ap.parse_args()
    if args.op not in OPS:
        raise SystemExit(f"unknown op {args.op!r}; known: {', '.join(OPS)}")
    n, skip = int(args.n), set(filter(None, args.skip.split(",")))
    rng = np.random.default_rng(0)
    if "numpy" not in skip:
        numpy_face(args.op, n, rng, args.calls, args.repeats)
    if "mindspore" not in skip:
        mindspore_faces(args.op, n, rng, args.calls, args.repeats, args.custom_op_builder)
    if "onnxruntime" not in skip:
        onnxruntime_faces(args.op, n, rng, args.calls, args.repeats)


if __name__ == "__main__":
    main()

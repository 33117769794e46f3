"""Malformed ai.lossgrad models and bad inputs give errors, never a crash.

The cases that reach native code (onnxruntime, the custom-op library) run in a
child process (``python -m tests.test_onnx_errors``), one after the other; it
reports every outcome as a JSON line, so a crash would fail these tests (naming
the case that was running) instead of killing the test session. Each case is
then checked here: the exception type and the message fragments it must carry
(the shared messages of framework/definitions.py where we produce the error).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Callable, Dict, List, Tuple

import numpy as np
import pytest
from onnx import TensorProto as TP
from onnx import helper

from lossgrad_ops import onnx_ops
from lossgrad_ops.framework.definitions import DOMAIN, MESSAGES, OPS
from lossgrad_ops.onnx_ops.schemas import attribute_type_message

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NATIVE = onnx_ops.native_available()


def _model(op, elems, shapes, out_elem=None, functions=False, **attrs):
    """A hand-built single-node model (no validation); inputs x0, x1, ..."""
    names = [f"x{i}" for i in range(len(elems))]
    node = helper.make_node(op, names, ["y"], domain=DOMAIN, **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, e, s)
                                            for n, e, s in zip(names, elems, shapes)],
                              [helper.make_tensor_value_info("y", out_elem or elems[0], None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(DOMAIN, 1)],
                              ir_version=10)
    if functions:
        model = onnx_ops.add_functions(model)
    return model


def _session(model, native):
    import onnxruntime as ort

    so = onnx_ops.session_options(native=native)
    so.log_severity_level = 4  # the failures are expected: keep onnxruntime's log quiet
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _run(model, native, *arrays):
    return _session(model, native).run(None, {f"x{i}": a for i, a in enumerate(arrays)})


F, D = TP.FLOAT, TP.DOUBLE
f32 = np.float32


def _ones(*shape, dtype=f32):
    return np.ones(shape, dtype)


# id -> (needs native, case, expected exception type names, message fragments)
CASES: Dict[str, Tuple[bool, Callable[[], object], Tuple[str, ...], List[str]]] = {
    # -- native library: errors from the kernels, with the shared messages
    "native-not-broadcastable": (
        True, lambda: _run(_model("MseLossGrad", [F, F, F], [["a"], ["b"], []]), True, _ones(2), _ones(3),
                           np.array(1, f32)),
        ("InvalidArgument",),
        [MESSAGES["not_broadcastable"].format(op="MseLossGrad", shapes="predict (2,), label (3,), dout ()")]),
    "native-rank-9": (
        True, lambda: _run(_model("L1Loss", [F, F], [None, None]), True, _ones(*[1] * 9), _ones(1)),
        ("InvalidArgument",), [MESSAGES["bad_rank"].format(op="L1Loss", arg="predict", rank=9)]),
    "native-rank-12": (
        True, lambda: _run(_model("MseLossGrad", [F, F, F], [None, None, None]), True, _ones(1), _ones(*[1] * 12),
                           _ones(1)),
        ("InvalidArgument",), [MESSAGES["bad_rank"].format(op="MseLossGrad", arg="label", rank=12)]),
    "native-rank-8-is-fine": (
        True, lambda: _run(_model("L1Loss", [F, F], [None, None]), True, _ones(*[1] * 8), _ones(1)), (), []),
    "native-bad-reduction": (
        True, lambda: _session(_model("MseLoss", [F, F], [[2], [2]], reduction="max"), True),
        ("RuntimeException", "Fail", "InvalidArgument"),
        [MESSAGES["bad_reduction"].format(op="MseLoss", value="'max'")]),
    "native-int-reduction": (
        True, lambda: _session(_model("MseLoss", [F, F], [[2], [2]], reduction=1), True),
        ("RuntimeException", "Fail", "InvalidArgument"),
        [attribute_type_message("MseLoss", helper.make_attribute("reduction", 1))]),  # same text as Python's
    "native-floats-reduction": (
        True, lambda: _session(_model("L1LossGrad", [F, F, F], [[2], [2], [2]], reduction=[0.5]), True),
        ("RuntimeException", "Fail", "InvalidArgument"),
        [attribute_type_message("L1LossGrad", helper.make_attribute("reduction", [0.5]))]),
    "native-strings-reduction": (
        True, lambda: _session(_model("MseLoss", [F, F], [[2], [2]], reduction=["mean"]), True),
        ("RuntimeException", "Fail", "InvalidArgument"), ["MseLoss: the reduction attribute must be a STRING"]),
    "native-int32-inputs": (
        True, lambda: _session(_model("MseLoss", [TP.INT32, TP.INT32], [[2], [2]]), True),
        ("InvalidGraph", "Fail"), ["tensor(int32)"]),
    "native-mixed-types": (
        True, lambda: _run(_model("MseLoss", [F, D], [[2], [2]]), True, _ones(2), _ones(2, dtype=np.float64)),
        ("InvalidGraph", "Fail", "InvalidArgument"), []),
    "native-missing-input": (
        True, lambda: _session(_model("MseLossGrad", [F, F], [[2], [2]]), True),
        ("InvalidGraph", "Fail"), ["input size 2"]),
    "native-empty-input-name": (
        True, lambda: _session(_with_empty_input(), True), ("InvalidGraph", "Fail", "InvalidArgument"), []),
    "native-extra-input": (
        True, lambda: _session(_model("L1Loss", [F, F, F], [[2], [2], [2]]), True),
        ("InvalidGraph", "Fail"), ["input size 3"]),
    "native-unknown-op": (
        True, lambda: _session(_model("HuberLoss", [F, F], [[2], [2]]), True),
        ("InvalidGraph", "Fail", "NotImplemented"), ["HuberLoss"]),
    "native-wrong-feed-dtype": (
        True, lambda: _run(_model("MseLoss", [F, F], [[2], [2]]), True, _ones(2, dtype=np.float64), _ones(2)),
        ("InvalidArgument",), ["tensor(double)"]),
    "native-wrong-feed-shape": (
        True, lambda: _run(_model("MseLoss", [F, F], [[2], [2]]), True, _ones(3), _ones(2)),
        ("InvalidArgument",), ["dimensions"]),
    # -- function bodies: onnxruntime's own errors, no crash
    "functions-not-broadcastable": (
        False, lambda: _run(_model("MseLossGrad", [F, F, F], [["a"], ["b"], []], functions=True), False,
                            _ones(2), _ones(3), np.array(1, f32)),
        ("Fail", "InvalidArgument", "RuntimeException"), []),
    "no-library-no-functions": (
        False, lambda: _session(_model("MseLoss", [F, F], [[2], [2]]), False),
        ("Fail", "InvalidGraph", "NotImplemented"), ["MseLoss"]),
    # -- reference ops: the shared Python exceptions
    "reference-not-broadcastable": (
        False, lambda: onnx_ops.reference_evaluator(_model("L1LossGrad", [F, F, F], [["a"], ["b"], ["c"]])).run(
            None, {"x0": _ones(2), "x1": _ones(3), "x2": _ones(2)}),
        ("ValueError",),
        [MESSAGES["not_broadcastable"].format(op="L1LossGrad", shapes="grads (2,), predict (3,), label (2,)")]),
    "reference-bad-reduction": (
        False, lambda: onnx_ops.reference_evaluator(_model("L1Loss", [F, F], [[2], [2]], reduction="avg")).run(
            None, {"x0": _ones(2), "x1": _ones(2)}),
        ("ValueError",), [MESSAGES["bad_reduction"].format(op="L1Loss", value="'avg'")]),
    "reference-int-inputs": (
        False, lambda: onnx_ops.reference_evaluator(_model("L1Loss", [TP.INT32, TP.INT32], [[2], [2]])).run(
            None, {"x0": _ones(2, dtype=np.int32), "x1": _ones(2, dtype=np.int32)}),
        ("TypeError",), [MESSAGES["bad_dtype"].format(op="L1Loss", arg="predict", dtype="int32")]),
}


def _float_attribute_cases():
    """Native cases for every declared float attribute (generated from the declarations): a value below
    its minimum and NaN fail at run time with the shared message (the core checks them), an INT or a
    STRING attribute fails when the kernel is created, and an absent one runs with the default."""
    cases = {}
    for op in OPS.values():
        arity = len(op.inputs)
        for a in op.attributes:
            if a.type != "float":
                continue

            def run(value, op=op, a=a, arity=arity, absent=False):
                attrs = {} if absent else {a.name: value}
                return _run(_model(op.name, [F] * arity, [[2]] * arity, **attrs), True, *[_ones(2)] * arity)

            bad = [float("nan")] + ([] if a.minimum is None else [a.minimum - 0.5])
            for value in bad:
                cases[f"native-{op.name}-{a.name}={value}"] = (
                    True, lambda run=run, value=value: run(value), ("InvalidArgument",),
                    [MESSAGES["bad_attribute_value"].format(op=op.name, attr=a.name, requirement=a.requirement,
                                                            value=repr(value))])
            for value, kind in ((1, "an INT"), ("1.0", "a STRING")):
                cases[f"native-{op.name}-{a.name}-{kind.split()[1]}"] = (
                    True, lambda run=run, value=value: run(value), ("RuntimeException", "Fail", "InvalidArgument"),
                    [MESSAGES["bad_attribute_type"].format(op=op.name, attr=a.name, expected="a FLOAT",
                                                           kind=kind)])
            cases[f"native-{op.name}-{a.name}-absent"] = (True, lambda run=run: run(None, absent=True), (), [])
    return cases


CASES.update(_float_attribute_cases())


def _with_empty_input():
    model = _model("MseLossGrad", [F, F, F], [[2], [2], [2]])
    model.graph.node[0].input[1] = ""
    return model


def _main() -> None:
    """Child process: run every case, print one JSON line per outcome."""
    for case_id, (needs_native, fn, _, _) in CASES.items():
        print(f"running {case_id}", file=sys.stderr, flush=True)
        if needs_native and not NATIVE:
            outcome = {"id": case_id, "skipped": True}
        else:
            try:
                fn()
                outcome = {"id": case_id, "error": None}
            except Exception as exc:  # noqa: BLE001 - we report every error
                chain, cause = [str(exc)], exc.__cause__  # onnx.reference wraps TypeErrors of OpRun
                while cause is not None:
                    chain.append(str(cause))
                    cause = cause.__cause__
                outcome = {"id": case_id, "error": type(exc).__name__, "message": " <- ".join(chain)}
        print(json.dumps(outcome), flush=True)


@pytest.fixture(scope="module")
def outcomes():
    proc = subprocess.run([sys.executable, "-m", "tests.test_onnx_errors"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            item = json.loads(line)
            results[item["id"]] = item
    running = [ln for ln in proc.stderr.splitlines() if ln.startswith("running ")]
    return {"returncode": proc.returncode, "results": results, "last": running[-1] if running else None,
            "stderr": proc.stderr[-2000:]}


def test_the_child_process_did_not_crash(outcomes):
    assert outcomes["returncode"] == 0, f"crashed while {outcomes['last']}: {outcomes['stderr']}"
    assert set(outcomes["results"]) == set(CASES)


@pytest.mark.parametrize("case_id", list(CASES))
def test_error_case(outcomes, case_id):
    result = outcomes["results"].get(case_id)
    assert result is not None, f"no outcome: the child process died ({outcomes['last']}): {outcomes['stderr']}"
    if result.get("skipped"):
        pytest.skip("native onnxruntime library not built")
    _, _, types, fragments = CASES[case_id]
    if not types:
        assert result["error"] is None, result
        return
    assert result["error"] in types, result
    for fragment in fragments:
        assert fragment in result["message"], (fragment, result["message"])


if __name__ == "__main__":
    _main()

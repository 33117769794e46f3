"""Building ONNX models with ``ai.lossgrad`` nodes (for users, tests and benchmarks).

:func:`build_model` makes a model of independent op calls: call ``i`` reads
graph inputs ``<input>_<i>`` (the op's input names) and writes ``<output>_<i>``.
A call may keep its graph I/O in another element type (``io_dtype``) with
``Cast`` nodes around the op, which is how bfloat16 is fed from and read into
NumPy through onnxruntime's Python API (it cannot return bfloat16 arrays).
"""
from __future__ import annotations

import dataclasses
from typing import Any, List, Optional, Sequence, Tuple, Union

import onnx
from onnx import ModelProto, helper

from ..framework.definitions import DOMAIN, OPS, OPSET_VERSION

from .functions import DEFAULT_OPSET, MIN_IR_VERSION, add_functions
from .schemas import ONNX_DTYPES, attribute_proto

__all__ = ["Call", "build_model", "input_names", "output_name"]

Dim = Union[int, str, None]


@dataclasses.dataclass(frozen=True)
class Call:
    """One ``ai.lossgrad`` node of :func:`build_model`.

    ``shapes``: one per input, dims are ints, symbolic names or None (unknown);
    a whole shape of None means unknown rank. ``reduction`` None leaves the
    attribute out (the default applies). ``io_dtype``: element type of the
    graph inputs/outputs of this call when it differs from ``dtype``. ``attrs``:
    the op's other declared attributes as (name, value) pairs, written as their
    ONNX attributes (absent ones: the defaults apply).
    """

    op: str
    shapes: Tuple[Optional[Tuple[Dim, ...]], ...]
    dtype: str = "float32"
    reduction: Optional[str] = "mean"
    io_dtype: Optional[str] = None
    attrs: Tuple[Tuple[str, Any], ...] = ()


def input_names(op: str, index: int) -> List[str]:
    """Graph input names of call ``index`` of ``op``."""
    return [f"{name}_{index}" for name in OPS[op].inputs]


def output_name(op: str, index: int) -> str:
    """Graph output name of call ``index`` of ``op``."""
    return f"{OPS[op].output}_{index}"


def _value_info(name: str, dtype: str, shape: Optional[Sequence[Dim]]):
    return helper.make_tensor_value_info(name, ONNX_DTYPES[dtype], None if shape is None else list(shape))


def build_model(calls: Sequence[Call], *, opset: int = DEFAULT_OPSET, functions: bool = True,
                check: bool = True) -> ModelProto:
    """A model with one ``ai.lossgrad`` node per call.

    Output types and shapes come from ONNX shape inference (the schemas of
    :mod:`onnx_ops.schemas`). ``functions``: attach the function bodies
    (:func:`onnx_ops.add_functions`). ``check``: run
    ``onnx.checker.check_model(full_check=True)`` on the result.
    """
    nodes, inputs, outputs = [], [], []
    for i, call in enumerate(calls):
        op = OPS[call.op]
        io = call.io_dtype or call.dtype
        names = input_names(call.op, i)
        if len(call.shapes) != len(names):
            raise ValueError(f"{call.op} takes {len(names)} inputs; got {len(call.shapes)} shapes")
        node_inputs = []
        for name, shape in zip(names, call.shapes):
            inputs.append(_value_info(name, io, shape))
            if io != call.dtype:
                nodes.append(helper.make_node("Cast", [name], [name + "_cast"], to=ONNX_DTYPES[call.dtype]))
                name += "_cast"
            node_inputs.append(name)
        out = output_name(call.op, i)
        attrs = {} if call.reduction is None else {"reduction": call.reduction}
        node_out = out + "_op" if io != call.dtype else out
        node = helper.make_node(call.op, node_inputs, [node_out], name=f"{call.op}_{i}", domain=DOMAIN, **attrs)
        declared = {a.name: a for a in op.attributes}
        for name, value in call.attrs:
            if name not in declared:
                raise ValueError(f"{call.op} declares no attribute {name!r}; declared: {', '.join(declared)}")
            node.attribute.append(attribute_proto(declared[name], value))
        nodes.append(node)
        if io != call.dtype:
            nodes.append(helper.make_node("Cast", [node_out], [out], to=ONNX_DTYPES[io]))
        outputs.append(out)
    graph = helper.make_graph(nodes, "lossgrad", inputs, [helper.ValueInfoProto(name=o) for o in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    helper.make_opsetid(DOMAIN, OPSET_VERSION)],
                              ir_version=MIN_IR_VERSION, producer_name="lossgrad-ops")
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    by_name = {vi.name: vi for vi in list(inferred.graph.value_info) + list(inferred.graph.output)}
    del model.graph.output[:]
    for o in outputs:
        model.graph.output.append(by_name[o])
    if functions:
        model = add_functions(model, inplace=True)
    if check:
        onnx.checker.check_model(model, full_check=True)
    return model

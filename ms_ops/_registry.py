"""MindSpore registration data (``reg_info``) generated from framework/definitions.py.

CPU: one registration per (op, attribute values), named by ``custom_reg_name`` (MindSpore's
ONNX exporter keeps only that name), accepting every combination of the four
dtypes, the output having the promoted dtype.

Ascend: the registration of the CANN operator of the same op type in the op package
of framework/ascend: float16/bfloat16/float32 with equal input dtypes, ND format, the
declared attributes (``reduction``, a string).
"""
from __future__ import annotations

import itertools
from typing import Any, Dict, List, Sequence, Tuple

import mindspore as ms
from mindspore.ops import CustomRegOp, DataType

from ..framework.definitions import DEFAULT_REDUCTION, DTYPES, OpDef, custom_reg_name, promote_dtypes

__all__ = ["MS_DTYPES", "dtype_name", "ms_dtype", "cpu_dtype_combinations", "ascend_dtype_combinations",
           "cpu_reg_info", "ascend_reg_info", "reduce_to_reg_info", "ASCEND_DTYPES"]

#: canonical name -> MindSpore dtype
MS_DTYPES: Dict[str, ms.dtype.Type] = {
    "float16": ms.float16, "bfloat16": ms.bfloat16, "float32": ms.float32, "float64": ms.float64,
}
assert tuple(MS_DTYPES) == DTYPES
_FORMATS = {"float16": DataType.F16_Default, "bfloat16": DataType.BF16_Default,
            "float32": DataType.F32_Default, "float64": DataType.F64_Default}
#: dtypes of the Ascend op package (the NPU has no float64 vector arithmetic)
ASCEND_DTYPES: Tuple[str, ...] = ("float16", "bfloat16", "float32")


def dtype_name(dtype) -> str:
    """Canonical name of a MindSpore dtype (or TensorType); other dtypes keep
    MindSpore's own lower-case name so errors can name them."""
    if hasattr(dtype, "element_type"):
        dtype = dtype.element_type()
    for name, ms_dt in MS_DTYPES.items():
        if dtype == ms_dt:
            return name
    return str(dtype).lower()


def ms_dtype(name: str):
    return MS_DTYPES[name]


def cpu_dtype_combinations(op: OpDef) -> List[Tuple[str, ...]]:
    """Every (input dtypes..., output dtype) the CPU kernels accept."""
    return [(*ins, promote_dtypes(ins)) for ins in itertools.product(DTYPES, repeat=len(op.inputs))]


def ascend_dtype_combinations(op: OpDef) -> List[Tuple[str, ...]]:
    """(input dtypes..., output dtype) of the Ascend op package: equal dtypes."""
    return [(dt,) * (len(op.inputs) + 1) for dt in ASCEND_DTYPES]


#: declared attribute type -> reg_info attribute type
_ATTR_TYPES = {"string": "str", "int": "int", "float": "float", "bool": "bool"}


def _reg(name: str, op: OpDef, combos: Sequence[Tuple[str, ...]], target: str, values: Dict[str, Any]):
    reg = CustomRegOp(name)
    for i, inp in enumerate(op.inputs):
        reg = reg.input(i, inp)
    reg = reg.output(0, op.output)
    for a in op.attributes:  # every declared attribute, with this registration's value
        reg = reg.attr(a.name, "required", _ATTR_TYPES[a.type], value=values[a.name])
    for combo in combos:
        reg = reg.dtype_format(*[_FORMATS[d] for d in combo])
    return reg.target(target).get_op_info()


def cpu_reg_info(op: OpDef, reduction: str, **attrs: Any):
    """reg_info of the CPU aot kernel of ``op`` with fixed attribute values (``attrs``: the
    declared attributes other than ``reduction``), named by ``custom_reg_name``."""
    values = op.attribute_values(reduction, **attrs)
    return _reg(custom_reg_name(op.name, **values), op, cpu_dtype_combinations(op), "CPU", values)


def ascend_reg_info(op: OpDef, reduction: str = DEFAULT_REDUCTION, **attrs: Any):
    """reg_info binding ``op`` to the CANN operator of the same op type."""
    return _reg(op.name, op, ascend_dtype_combinations(op), "Ascend", op.attribute_values(reduction, **attrs))


def reduce_to_reg_info(entry: str = "ReduceTo"):
    """reg_info of the CPU ``ReduceTo(t, like)`` / ``NegReduceTo`` helper (output: like's dtype)."""
    reg = CustomRegOp(f"Lossgrad{entry}").input(0, "t").input(1, "like").output(0, "y")
    for a, b in itertools.product(DTYPES, repeat=2):
        reg = reg.dtype_format(_FORMATS[a], _FORMATS[b], _FORMATS[b])
    return reg.target("CPU").get_op_info()

"""The single definition of every lossgrad op (docs/SPEC.md), shared by all bindings.

This module is deliberately pure standard-library Python: the build loads it
on its own (without importing the ``framework`` package or NumPy) to generate
the C++ tables of the native kernels, so the Python validation, the native CPU
kernels, the onnxruntime kernels, the ONNX schemas, the MindSpore reg_info and
the Ascend op package all derive from what is written here.

Everything is keyed by canonical dtype *names* (``"float16"``, ``"bfloat16"``,
``"float32"``, ``"float64"``); each binding converts its own dtype objects to
these names before calling in.
"""
from __future__ import annotations

import dataclasses
import math
import sys
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

__all__ = [
    "DTYPES", "REDUCTIONS", "DEFAULT_REDUCTION", "MAX_RANK", "DOMAIN", "OPSET_VERSION",
    "MESSAGES", "OpDef", "Plan", "OPS", "MSE_LOSS_GRAD", "L1_LOSS_GRAD", "MSE_LOSS",
    "L1_LOSS", "normalize_reduction", "reduction_index", "promote_dtypes",
    "broadcast_shapes", "check_dtype", "check_rank", "numel", "custom_reg_name",
    "parse_custom_reg_name",
]

#: Supported floating dtypes, in the order of the native ``DType`` enum.
DTYPES: Tuple[str, ...] = ("float16", "bfloat16", "float32", "float64")
#: Reduction names; the position of each is its aclnn integer (0, 1, 2).
REDUCTIONS: Tuple[str, ...] = ("none", "mean", "sum")
DEFAULT_REDUCTION = "mean"
MAX_RANK = 8
#: ONNX custom domain and its opset version.
DOMAIN = "ai.lossgrad"
OPSET_VERSION = 1

#: Error message templates (``str.format`` fields in braces). The native kernels
#: use the very same templates: they are generated into a C++ header at build time.
MESSAGES: Dict[str, str] = {
    "bad_reduction": (
        "{op}: reduction must be one of 'none', 'mean', 'sum' "
        "(or the aclnn integers 0, 1, 2); got {value}"
    ),
    "bad_dtype": (
        "{op}: {arg} has dtype {dtype}; supported dtypes are "
        "float16, bfloat16, float32, float64"
    ),
    "bad_rank": "{op}: {arg} has rank {rank}; at most 8 dimensions are supported",
    "not_broadcastable": "{op}: shapes are not broadcastable: {shapes}",
    "bad_arity": "{op}: expects {expected} inputs ({names}); got {got}",
    # an ONNX node whose reduction attribute has another type ({kind}: "an INT", "a FLOATS", ...)
    "bad_reduction_type": (
        "{op}: the reduction attribute must be a STRING (one of 'none', 'mean', 'sum'); got {kind} attribute"
    ),
    # an ONNX node that carries one attribute several times (runtimes would disagree on which one counts)
    "duplicate_attribute": "{op}: the {attr} attribute appears {count} times; give it once",
    # a tensor argument of the MindSpore face (ms_ops) that is not a mindspore.Tensor (a TypeError)
    "not_tensor": "{op}: {arg} must be a mindspore.Tensor; got {type}",
    # the out= argument of the NumPy face (framework.cpu): a TypeError, then ValueErrors
    "out_not_array": "{op}: out must be a NumPy array (numpy.ndarray); got {type}",
    "out_byte_order": "{op}: out must be in native byte order; got an array of dtype {dtype}",
    "bad_out": "{op}: out must be a C-contiguous {dtype} array of shape {shape}; got {got}",
    "out_read_only": "{op}: out must be writable; got a read-only array (its writeable flag is False)",
    "out_unaligned": (
        "{op}: out must be aligned to its {dtype} elements; got an unaligned array (its aligned flag is False)"
    ),
    # the native core's own checks (what the faces above validate first, or a caller of the C API)
    "unknown_op": "lossgrad: unknown op id {id}",
    "negative_dim": "{op}: {arg} has a negative dimension",
    "too_many_elements": "{op}: the broadcast shape has more than 2^63 elements",
    "bad_out_buffer": "{op}: the output buffer has the wrong shape or dtype (expected {dtype} {shape})",
    "aot_arity": "{op}: expects {expected} inputs and 1 output; got {got} tensors",
    # reduce_to, the helper of the gradient formulas
    "reduce_to_dtype": "{op}: unsupported dtype {dtype} -> {target}",
    "cannot_reduce": "{op}: cannot reduce {shape} to {target}",
}
# The dtype list and rank bound inside the templates are spelled out for
# readability; keep them in sync with DTYPES/MAX_RANK (checked at import).
assert ", ".join(DTYPES) in MESSAGES["bad_dtype"]
assert f"at most {MAX_RANK} dimensions" in MESSAGES["bad_rank"]

ReductionArg = Union[str, int]
Shape = Tuple[int, ...]


def _is_integer_scalar(value: object) -> bool:
    """A Python int or a NumPy integer scalar; never a bool, an array or a float."""
    if isinstance(value, bool):  # bool is an int subclass: True is not "mean"
        return False
    if isinstance(value, int):
        return True
    # NumPy is not imported here (the build loads this module without it); a NumPy
    # scalar can only exist if NumPy is already loaded. numpy.bool_ is no numpy.integer.
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.integer)


def normalize_reduction(value: ReductionArg, op: str = "lossgrad") -> str:
    """Return the canonical reduction name for ``value``.

    Accepts ``"none"``, ``"mean"``, ``"sum"`` and the aclnn integers 0, 1, 2 as a
    Python ``int`` or a NumPy integer scalar (``numpy.int64(2)``). Anything else
    raises ``ValueError`` naming the value and the allowed ones: other strings,
    ``True``/``False``, floats, and arrays of any shape (``numpy.array([[2]])``
    and 0-d arrays are arrays, not integers).
    """
    if isinstance(value, str) and value in REDUCTIONS:
        return str(value)
    if _is_integer_scalar(value) and 0 <= int(value) < len(REDUCTIONS):
        return REDUCTIONS[int(value)]
    raise ValueError(MESSAGES["bad_reduction"].format(op=op, value=repr(value)))


def reduction_index(value: ReductionArg, op: str = "lossgrad") -> int:
    """The aclnn integer (0 none, 1 mean, 2 sum) of a reduction."""
    return REDUCTIONS.index(normalize_reduction(value, op))


_PROMOTE_RANK = {"float16": 0, "bfloat16": 0, "float32": 1, "float64": 2}


def check_dtype(dtype: str, arg: str, op: str) -> str:
    """Raise ``TypeError`` unless ``dtype`` (a name) is a supported dtype."""
    if dtype not in DTYPES:
        raise TypeError(MESSAGES["bad_dtype"].format(op=op, arg=arg, dtype=dtype))
    return dtype


def promote_dtypes(dtypes: Sequence[str]) -> str:
    """Common floating type of already-checked dtype names.

    Equal dtypes stay; float16 with bfloat16 gives float32; otherwise the wider wins.
    """
    result = dtypes[0]
    for dt in dtypes[1:]:
        if dt == result:
            continue
        if _PROMOTE_RANK[dt] == _PROMOTE_RANK[result]:  # float16 vs bfloat16
            result = "float32"
        elif _PROMOTE_RANK[dt] > _PROMOTE_RANK[result]:
            result = dt
    return result


def check_rank(shape: Sequence[int], arg: str, op: str) -> None:
    """Raise ``ValueError`` if ``shape`` has more than MAX_RANK dimensions."""
    if len(shape) > MAX_RANK:
        raise ValueError(MESSAGES["bad_rank"].format(op=op, arg=arg, rank=len(shape)))


def broadcast_shapes(named_shapes: Mapping[str, Sequence[int]], op: str) -> Shape:
    """NumPy broadcast of several shapes; ``ValueError`` naming all of them otherwise.

    A dimension of ``-1`` (unknown, as in dynamic-shape graphs) broadcasts with
    anything and stays unknown unless another input fixes it to a size > 1.
    """
    rank = max((len(s) for s in named_shapes.values()), default=0)
    out = []
    for axis in range(rank):
        dim = 1
        for shape in named_shapes.values():
            k = axis - (rank - len(shape))
            if k < 0:
                continue
            d = int(shape[k])
            if d == 1 or d == dim:
                continue
            if dim == 1:
                dim = d
            elif d == -1:
                continue  # unknown against a known size: the known one stands
            elif dim == -1:
                dim = d
            else:
                shapes = ", ".join(f"{n} {tuple(int(v) for v in s)}" for n, s in named_shapes.items())
                raise ValueError(MESSAGES["not_broadcastable"].format(op=op, shapes=shapes))
        out.append(dim)
    return tuple(out)


def numel(shape: Sequence[int]) -> int:
    """Element count as a Python (arbitrary precision, hence >= 64-bit) integer."""
    return math.prod(int(d) for d in shape)


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything a kernel needs to know about one call, after validation."""

    op: "OpDef"
    reduction: str
    shape: Shape          #: the broadcast shape B of all inputs
    dtype: str            #: the promoted (output) dtype
    n: int                #: numel(B), the divisor of ``mean``

    @property
    def out_shape(self) -> Shape:
        """Shape of the output: B, or () for a reduced forward loss."""
        return self.op.output_shape(self.shape, self.reduction)

    @property
    def scale(self) -> float:
        """Scale factor of a grad op, in double precision (1.0 for losses)."""
        return self.op.scale(self.reduction, self.n)


@dataclasses.dataclass(frozen=True)
class OpDef:
    """One op of docs/SPEC.md: its name, inputs, output and the rules that apply to it."""

    name: str                     #: ONNX / CANN op type
    native_id: int                #: the native ``OpKind`` enum value
    inputs: Tuple[str, ...]       #: input names, in the CANN order
    output: str                   #: output name
    kind: str                     #: "grad" (elementwise, output B) or "loss"
    scale_numerator: float = 1.0  #: s = numerator / N (mean), numerator otherwise
    doc: str = ""

    @property
    def is_loss(self) -> bool:
        return self.kind == "loss"

    def scale(self, reduction: ReductionArg, n: int) -> float:
        """The scale ``s`` of docs/SPEC.md, computed in double from a 64-bit-or-wider ``n``.

        For ``mean`` over an empty shape the scale is infinite; it is never used
        because the output is empty.
        """
        if self.is_loss:
            return 1.0
        red = normalize_reduction(reduction, self.name)
        if red == "mean":
            return self.scale_numerator / n if n else math.inf
        return float(self.scale_numerator)

    def output_shape(self, shape: Sequence[int], reduction: ReductionArg) -> Shape:
        if self.is_loss and normalize_reduction(reduction, self.name) != "none":
            return ()
        return tuple(shape)

    def plan(
        self,
        shapes: Sequence[Sequence[int]],
        dtypes: Sequence[str],
        reduction: ReductionArg = DEFAULT_REDUCTION,
        arg_names: Optional[Sequence[str]] = None,
    ) -> Plan:
        """Validate one call and return its :class:`Plan`.

        ``shapes``/``dtypes`` are given in the op's input order; ``arg_names``
        (default: the op's input names) are the names the caller's API uses, so
        that errors name the argument the user actually passed. Checks run in
        the order of docs/SPEC.md's error table: reduction, dtypes, ranks, broadcast.
        """
        names = tuple(arg_names) if arg_names is not None else self.inputs
        if len(shapes) != len(self.inputs) or len(dtypes) != len(self.inputs):
            raise TypeError(MESSAGES["bad_arity"].format(
                op=self.name, expected=len(self.inputs), names=", ".join(self.inputs),
                got=len(shapes)))
        red = normalize_reduction(reduction, self.name)
        checked = [check_dtype(dt, nm, self.name) for dt, nm in zip(dtypes, names)]
        for shape, nm in zip(shapes, names):
            check_rank(shape, nm, self.name)
        bshape = broadcast_shapes(dict(zip(names, shapes)), self.name)
        n = numel(bshape) if all(d >= 0 for d in bshape) else -1
        return Plan(op=self, reduction=red, shape=bshape, dtype=promote_dtypes(checked), n=n)


MSE_LOSS_GRAD = OpDef(
    name="MseLossGrad", native_id=0, inputs=("predict", "label", "dout"), output="y",
    kind="grad", scale_numerator=2.0,
    doc="y = dout * (predict - label) * s, s = 2/N for mean and 2 for none and sum.",
)
L1_LOSS_GRAD = OpDef(
    name="L1LossGrad", native_id=1, inputs=("grads", "predict", "label"), output="y",
    kind="grad", scale_numerator=1.0,
    doc="y = grads * sign(predict - label) * s, s = 1/N for mean and 1 otherwise.",
)
MSE_LOSS = OpDef(
    name="MseLoss", native_id=2, inputs=("predict", "label"), output="loss", kind="loss",
    doc="e = (predict - label)^2 over B; none: e, mean: mean(e), sum: sum(e).",
)
L1_LOSS = OpDef(
    name="L1Loss", native_id=3, inputs=("predict", "label"), output="loss", kind="loss",
    doc="e = |predict - label| over B; none: e, mean: mean(e), sum: sum(e).",
)

#: All ops by name, in native-id order.
OPS: Dict[str, OpDef] = {op.name: op for op in (MSE_LOSS_GRAD, L1_LOSS_GRAD, MSE_LOSS, L1_LOSS)}
assert [op.native_id for op in OPS.values()] == list(range(len(OPS)))


def custom_reg_name(op: str, reduction: ReductionArg) -> str:
    """Name of the MindSpore CPU Custom-op registration of ``op`` with ``reduction``.

    MindSpore's ONNX exporter writes a Custom op as a bare node whose op_type is
    this name (and drops attributes), so the name carries both; the ONNX exporter
    of ``onnx_ops`` parses it back with :func:`parse_custom_reg_name`.
    """
    if op not in OPS:
        raise ValueError(f"unknown lossgrad op {op!r}; known: {', '.join(OPS)}")
    return f"{op}_{normalize_reduction(reduction, op)}"


def parse_custom_reg_name(name: str) -> Optional[Tuple[str, str]]:
    """``(op, reduction)`` of a name made by :func:`custom_reg_name`, else None."""
    op, sep, red = name.rpartition("_")
    if sep and op in OPS and red in REDUCTIONS:
        return op, red
    return None

"""The rules every lossgrad op shares (docs/SPEC.md), in their one Python implementation.

Dtypes, reductions, limits, the error-message templates, validation,
broadcasting, promotion, the :class:`OpDef` an op family declares its ops with
(:mod:`framework.families`), its declared :class:`Attribute`s and the codec that
carries attribute values in a MindSpore registration name. No op is named here.

This module is deliberately pure standard-library Python: the build loads it
(through :mod:`framework.definitions`, without the ``framework`` package or NumPy)
to generate the C++ tables of the native kernels.

Everything is keyed by canonical dtype *names* (``"float16"``, ``"bfloat16"``,
``"float32"``, ``"float64"``); each binding converts its own dtype objects to
these names before calling in.
"""
from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

__all__ = [
    "DTYPES", "REDUCTIONS", "DEFAULT_REDUCTION", "MAX_RANK", "DOMAIN", "OPSET_VERSION",
    "MESSAGES", "ATTRIBUTE_TYPES", "KINDS", "DTYPE_RULES", "Attribute", "REDUCTION", "OpDef", "Plan",
    "float_attribute", "normalize_reduction", "reduction_index", "promote_dtypes", "broadcast_shapes", "check_dtype",
    "check_rank", "numel", "encode_attributes", "decode_attributes", "ReductionArg", "Shape",
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
    # an ONNX attribute of another type than the declared one (onnxruntime kernels; reduction has its own)
    "bad_attribute_type": "{op}: the {attr} attribute must be {expected}; got {kind} attribute",
    # an attribute the op does not declare (a TypeError for a Python keyword, a ValueError for an ONNX node)
    "unknown_attribute": "{op}: unknown attribute {attr}; declared: {declared}",
    # a declared float attribute out of its range, or NaN (a ValueError on every face)
    "bad_attribute_value": "{op}: {attr} must be {requirement}; got {value}",
    # a declared float attribute given something that is not a real number (a TypeError)
    "attribute_not_number": "{op}: {attr} must be a real number (int or float); got {type}",
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
    # the Ascend op package (op_host tiling, ATC plugin): the NPU kernels have no float64, and a
    # launch needs known shapes, at most 2^62 elements and a unified buffer that holds one tile
    "bad_ascend_dtype": "{op}: {arg} has dtype {dtype}; the Ascend kernel supports float16, bfloat16, float32",
    "tiling_unknown_shape": "{op}: tiling needs known shapes; got {shape}",
    "tiling_too_many_elements": "{op}: {shape} has more than 2^62 elements",
    "tiling_ub_too_small": "{op}: unified buffer of {bytes} bytes is too small for one tile",
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




# -- declared attributes -----------------------------------------------------------

#: attribute types an op may declare (ONNX carries them as STRING, INT, FLOAT and INT 0/1)
ATTRIBUTE_TYPES: Tuple[str, ...] = ("string", "int", "float", "bool")


@dataclasses.dataclass(frozen=True)
class Attribute:
    """One attribute an op declares: its name, type, default and the check of its values.

    ``check(value, op_name)`` returns the canonical value (what kernels, registration
    names and ONNX attributes carry) or raises the ``ValueError``/``TypeError`` of
    docs/SPEC.md naming the attribute; every face calls it, so an attribute's rule
    is written once, here or in its family module.
    """

    name: str
    type: str
    default: Any
    check: Callable[[Any, str], Any]
    doc: str = ""
    #: a float attribute's lower bound (inclusive; None: any number); NaN is never a value
    minimum: Optional[float] = None

    def __post_init__(self) -> None:
        if self.type not in ATTRIBUTE_TYPES:
            raise TypeError(f"attribute {self.name!r}: type {self.type!r} is not one of {', '.join(ATTRIBUTE_TYPES)}")
        if self.minimum is not None and self.type != "float":
            raise TypeError(f"attribute {self.name!r}: only a float attribute has a minimum")
        if self.check(self.default, self.name) != self.default:
            raise ValueError(f"attribute {self.name!r}: the default {self.default!r} is not a canonical value")


    @property
    def requirement(self) -> str:
        """What a float attribute's value must be, as its ValueError says ("a number >= 0")."""
        return _requirement(self.minimum)


def _requirement(minimum: Optional[float]) -> str:
    return "a number (not NaN)" if minimum is None else f"a number >= {minimum:g}"


def float_attribute(name: str, default: float, minimum: Optional[float] = None, doc: str = "") -> Attribute:
    """A float attribute: ints and floats are taken (as float); a bool or anything else is a
    ``TypeError``, NaN or a value below ``minimum`` a ``ValueError``, both naming the attribute.
    The native faces apply the same rule from the generated tables (minimum, message)."""
    def check(value: Any, op: str) -> float:
        numpy = sys.modules.get("numpy")
        real = isinstance(value, (int, float)) or (numpy is not None and isinstance(value, (numpy.integer, numpy.floating)))
        if isinstance(value, bool) or (numpy is not None and isinstance(value, numpy.bool_)) or not real:
            raise TypeError(MESSAGES["attribute_not_number"].format(op=op, attr=name, type=type(value).__name__))
        number = float(value)
        if number != number or (minimum is not None and number < minimum):
            raise ValueError(MESSAGES["bad_attribute_value"].format(
                op=op, attr=name, requirement=_requirement(minimum), value=repr(number)))
        return number

    return Attribute(name, "float", float(default), check, doc, minimum)


#: the attribute every op declares first: the generic rules (mean divisor, output shape) read it
REDUCTION = Attribute("reduction", "string", DEFAULT_REDUCTION, normalize_reduction,
                      f"one of {', '.join(repr(r) for r in REDUCTIONS)}")


def _encode_value(attr: Attribute, value: Any, op: str) -> str:
    """One attribute value as a token of a registration name (exact: floats in hex)."""
    if attr.type == "float":
        return float(value).hex()
    if attr.type == "bool":
        return "1" if value else "0"
    if attr.type == "int":
        return str(int(value))
    text = str(value)
    if not text or "_" in text or not text.isprintable():
        raise ValueError(f"{op}: the {attr.name} value {text!r} cannot be carried in a registration name")
    return text


def _decode_value(attr: Attribute, token: str) -> Any:
    if attr.type == "float":
        return float.fromhex(token)
    if attr.type == "bool":
        return {"0": False, "1": True}[token]
    if attr.type == "int":
        return int(token)
    return token


def encode_attributes(op: "OpDef", values: Mapping[str, Any]) -> Tuple[str, ...]:
    """Canonical attribute values of ``op`` as name tokens, in declared order.

    MindSpore's ONNX exporter keeps a Custom op's registration name and drops its
    attributes, so the name carries them: a string as itself, an int in decimal, a
    bool as 0/1 and a float as ``float.hex`` (no precision lost).
    """
    return tuple(_encode_value(a, values[a.name], op.name) for a in op.attributes)


def decode_attributes(op: "OpDef", tokens: Sequence[str]) -> Optional[Dict[str, Any]]:
    """The attribute values of :func:`encode_attributes` tokens (checked), or None if they are not such tokens."""
    if len(tokens) != len(op.attributes):
        return None
    try:
        return {a.name: a.check(_decode_value(a, t), op.name) for a, t in zip(op.attributes, tokens)}
    except (KeyError, ValueError, TypeError, OverflowError):
        return None


# -- op declarations -------------------------------------------------------------

#: what an op computes over the broadcast shape B. "grad": an elementwise value times the
#: scale s (numerator/N for mean, numerator otherwise), output B. "loss": an elementwise
#: value reduced by ``reduction`` (output B for none, rank 0 otherwise), no scale.
KINDS: Tuple[str, ...] = ("grad", "loss")
#: dtype rules: the output (and compute) dtype of the input dtypes
DTYPE_RULES: Dict[str, Callable[[Sequence[str]], str]] = {"promote": promote_dtypes}


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything a kernel needs to know about one call, after validation."""

    op: "OpDef"
    reduction: str
    shape: Shape          #: the broadcast shape B of all inputs
    dtype: str            #: the promoted (output) dtype
    n: int                #: numel(B), the divisor of ``mean``
    attrs: Tuple[Tuple[str, Any], ...] = ()  #: canonical values of every declared attribute, in order

    @property
    def out_shape(self) -> Shape:
        """Shape of the output: B, or () for a reduced forward loss."""
        return self.op.output_shape(self.shape, self.reduction)

    @property
    def scale(self) -> float:
        """Scale factor of a grad op, in double precision (1.0 for losses)."""
        return self.op.scale(self.reduction, self.n)

    @property
    def extra(self) -> Dict[str, Any]:
        """The declared attributes other than ``reduction`` (what a family's formulas take as keywords)."""
        return {k: v for k, v in self.attrs if k != REDUCTION.name}


@dataclasses.dataclass(frozen=True)
class OpDef:
    """One op of docs/SPEC.md, as its family module declares it."""

    name: str                     #: ONNX / CANN op type
    native_id: int                #: the native ``OpKind`` enum value
    inputs: Tuple[str, ...]       #: input names, in the CANN order
    output: str                   #: output name
    kind: str                     #: one of KINDS: the output shape and scale rule
    scale_numerator: float = 1.0  #: s = numerator / N (mean), numerator otherwise
    doc: str = ""
    attributes: Tuple[Attribute, ...] = (REDUCTION,)  #: declared attributes, ``reduction`` first
    dtype_rule: str = "promote"   #: a key of DTYPE_RULES

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.dtype_rule not in DTYPE_RULES:
            raise ValueError(f"{self.name}: dtype rule {self.dtype_rule!r} is not one of {', '.join(DTYPE_RULES)}")
        if not self.attributes or self.attributes[0] is not REDUCTION:
            raise ValueError(f"{self.name}: the first declared attribute must be rules.REDUCTION")
        names = [a.name for a in self.attributes]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: attributes declared twice: {names}")
        if self.kind == "loss" and self.scale_numerator != 1.0:
            raise ValueError(f"{self.name}: a loss has no scale")

    @property
    def is_loss(self) -> bool:
        return self.kind == "loss"

    def attribute_values(self, reduction: ReductionArg = DEFAULT_REDUCTION, **attrs: Any) -> Dict[str, Any]:
        """Canonical values of every declared attribute (defaults filled in), in declared order.

        Raises the attribute's own ``ValueError``/``TypeError`` for a bad value and
        ``TypeError`` for a name the op does not declare.
        """
        declared = {a.name: a for a in self.attributes}
        unknown = [k for k in attrs if k not in declared or k == REDUCTION.name]
        if unknown:
            raise TypeError(MESSAGES["unknown_attribute"].format(op=self.name, attr=repr(unknown[0]),
                                                                 declared=", ".join(declared)))
        given = dict(attrs, **{REDUCTION.name: reduction})
        return {a.name: a.check(given[a.name], self.name) if a.name in given else a.default for a in self.attributes}

    def scale(self, reduction: ReductionArg, n: int) -> float:
        """The scale ``s`` of docs/SPEC.md, computed in double from a 64-bit-or-wider ``n``.

        For ``mean`` over an empty shape (``n == 0``) the scale is ``0.0``: the output
        is empty, so the value is never observed; docs/SPEC.md fixes it so that
        every face (native plans, tiling data) holds the same finite number.
        """
        if self.is_loss:
            return 1.0
        red = normalize_reduction(reduction, self.name)
        if red == "mean":
            return self.scale_numerator / n if n else 0.0
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
        **attrs: Any,
    ) -> Plan:
        """Validate one call and return its :class:`Plan`.

        ``shapes``/``dtypes`` are given in the op's input order; ``arg_names``
        (default: the op's input names) are the names the caller's API uses, so
        that errors name the argument the user actually passed. ``attrs``: the
        declared attributes other than ``reduction``. Checks run in the order of
        docs/SPEC.md's error table: reduction (and the other attributes), dtypes,
        ranks, broadcast.
        """
        names = tuple(arg_names) if arg_names is not None else self.inputs
        if len(shapes) != len(self.inputs) or len(dtypes) != len(self.inputs):
            raise TypeError(MESSAGES["bad_arity"].format(
                op=self.name, expected=len(self.inputs), names=", ".join(self.inputs),
                got=len(shapes)))
        values = self.attribute_values(reduction, **attrs)
        checked = [check_dtype(dt, nm, self.name) for dt, nm in zip(dtypes, names)]
        for shape, nm in zip(shapes, names):
            check_rank(shape, nm, self.name)
        bshape = broadcast_shapes(dict(zip(names, shapes)), self.name)
        n = numel(bshape) if all(d >= 0 for d in bshape) else -1
        return Plan(op=self, reduction=values[REDUCTION.name], shape=bshape,
                    dtype=DTYPE_RULES[self.dtype_rule](checked), n=n, attrs=tuple(values.items()))

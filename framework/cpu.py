"""NumPy face of the native CPU kernels (``framework/_lossgrad_native.so``).

One function per declared op, named after it (for an op ``FooLossGrad``,
``framework.cpu.foo_loss_grad(<inputs in the op's order>, reduction="mean", *, out=None)``),
takes NumPy arrays of any supported dtype (float16, bfloat16 via
``ml_dtypes``, float32, float64; mixed dtypes promote), any strides and any
broadcastable shapes, validates them with the shared definitions, and returns a
new contiguous array computed by the native kernel. Used by the tests and the
benchmarks; the MindSpore and onnxruntime bindings call the same kernel core
through their own entry points.

NumPy's rules apply (docs/SPEC.md, "NumPy faces"): inputs in non-native byte order,
unaligned or with strides that are not whole elements are copied into native,
aligned arrays first. ``out=`` must be a ``numpy.ndarray`` of exactly the output's
shape and dtype (so in native byte order: ``'>f4'`` is refused, not converted),
C-contiguous, writable and aligned, else ``TypeError``/``ValueError`` naming
``out``; an ``out=`` that overlaps an input gives the result a fresh output would
(the kernel then writes a temporary that is copied into ``out``).

Small calls are cheap: what a call validated is cached per (op, attribute values with their types,
input shapes, strides and dtypes), and a later call of the same key runs the kernel through
``lossgrad_run_direct`` with its data pointers alone (below the parallel threshold the kernel then runs
inline on the calling thread). Only valid calls are cached, so errors come on every call; the cache is
shared by threads (see "small calls" below).

The library is built at install time (``pip install .``); importing this module
never compiles anything. The thread count of the native pool defaults to the
number of hardware threads (``LOSSGRAD_NUM_THREADS`` overrides it) and can be
changed with :func:`set_num_threads`.
"""
from __future__ import annotations

import ctypes
import glob
import importlib.machinery
import operator
import os
import warnings
from types import MappingProxyType
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from .arrays import attribute_cache_key, dtype_name, np_dtype
from .definitions import DEFAULT_REDUCTION, DTYPES, MAX_RANK, MESSAGES, OPS, OpDef, REDUCTIONS, ReductionArg
from .reference import plan_for
from .rules import ATTRIBUTE_TYPES, REDUCTION
from .registry import make_face

__all__ = ["library_path", "run", "reduce_to", "num_threads", "set_num_threads", "parallel_threshold", "isa", "isa_levels",
           "stream_floor", "NativeLibraryError"]  # + one function per declared op, below

_ABI_VERSION = 6
#: input data pointers lossgrad_run_direct takes (lossgrad::kMaxInputs)
MAX_INPUTS = 3
_HERE = os.path.dirname(os.path.abspath(__file__))


class NativeLibraryError(ImportError):
    """The native kernel library is missing or does not match this Python code."""


def library_path(stem: str = "_lossgrad_native") -> str:
    """Path of a native library built into the ``framework`` package at install time."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(_HERE, stem + suffix)
        if os.path.exists(path):
            return path
    found = sorted(glob.glob(os.path.join(_HERE, stem + "*.so")))
    if found:
        return found[0]
    raise NativeLibraryError(
        f"the native library {stem} was not built; install the package first "
        f"(`make setup`, or `pip install .` from the repository root, builds it; editable installs are not "
        f"supported)")


class _TensorRef(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("dtype", ctypes.c_int32),
        ("ndim", ctypes.c_int32),
        ("shape", ctypes.c_int64 * MAX_RANK),
        ("strides", ctypes.c_int64 * MAX_RANK),
    ]


class _AttrValue(ctypes.Structure):
    """One declared attribute value (lossgrad::AttrValue of the generated C++ table)."""
    _fields_ = [("i", ctypes.c_int64), ("f", ctypes.c_double)]


def _attr_value(attr: Any, value: Any) -> _AttrValue:
    """A canonical attribute value as the core takes it: the reduction as its index, an int or bool in
    ``i``, a float in ``f`` (exact). framework/_codegen.py refuses, at build, the attributes it cannot carry."""
    if attr.type == "string":
        if attr is not REDUCTION:
            raise NotImplementedError(f"attribute {attr.name!r}: the native core takes no string attribute "
                                      "but reduction")
        return _AttrValue(REDUCTIONS.index(value), 0.0)
    if attr.type == "float":
        return _AttrValue(0, float(value))
    return _AttrValue(int(value), 0.0)


def _attr_array(op: OpDef, values: Mapping[str, Any]) -> Any:
    """The op's attribute values (canonical, every declared one) in declared order, for lossgrad_run."""
    return (_AttrValue * len(op.attributes))(*[_attr_value(a, values[a.name]) for a in op.attributes])


def _load() -> ctypes.CDLL:
    lib = ctypes.CDLL(library_path())  # CDLL releases the GIL during calls
    lib.lossgrad_abi_version.restype = ctypes.c_int
    if lib.lossgrad_abi_version() != _ABI_VERSION:
        raise NativeLibraryError("the native library is stale; reinstall the package to rebuild it")
    lib.lossgrad_num_ops.restype = ctypes.c_int32
    lib.lossgrad_op_name.argtypes = [ctypes.c_int32]
    lib.lossgrad_op_name.restype = ctypes.c_char_p
    built = [lib.lossgrad_op_name(i).decode() for i in range(lib.lossgrad_num_ops())]
    if built != [op.name for op in sorted(OPS.values(), key=lambda op: op.native_id)]:
        raise NativeLibraryError(f"the native library was built for the ops {', '.join(built)}, not those of "
                                 f"framework.definitions ({', '.join(OPS)}); reinstall the package to rebuild it")
    lib.lossgrad_num_attrs.argtypes = [ctypes.c_int32]
    lib.lossgrad_num_attrs.restype = ctypes.c_int32
    lib.lossgrad_attr_name.argtypes = [ctypes.c_int32, ctypes.c_int32]
    lib.lossgrad_attr_name.restype = ctypes.c_char_p
    lib.lossgrad_attr_type.argtypes = [ctypes.c_int32, ctypes.c_int32]
    lib.lossgrad_attr_type.restype = ctypes.c_int32
    for op in OPS.values():
        built_attrs = [(lib.lossgrad_attr_name(op.native_id, i).decode(), lib.lossgrad_attr_type(op.native_id, i))
                       for i in range(lib.lossgrad_num_attrs(op.native_id))]
        declared = [(a.name, ATTRIBUTE_TYPES.index(a.type)) for a in op.attributes]
        if built_attrs != declared:
            raise NativeLibraryError(f"the native library was built for {op.name} with the attributes "
                                     f"{built_attrs}, not the declared {declared}; reinstall the package to rebuild it")
    lib.lossgrad_run.argtypes = [ctypes.c_int32, ctypes.POINTER(_AttrValue), ctypes.c_int32,
                                 ctypes.POINTER(_TensorRef), ctypes.POINTER(_TensorRef), ctypes.c_char_p, ctypes.c_int64]
    lib.lossgrad_run.restype = ctypes.c_int
    lib.lossgrad_run_direct.argtypes = [ctypes.c_int32, ctypes.POINTER(_AttrValue), ctypes.c_int32,
                                        ctypes.POINTER(_TensorRef), ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                        ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int64]
    lib.lossgrad_run_direct.restype = ctypes.c_int
    lib.lossgrad_reduce_to.argtypes = [ctypes.POINTER(_TensorRef), ctypes.POINTER(_TensorRef), ctypes.c_double,
                                       ctypes.c_char_p, ctypes.c_int64]
    lib.lossgrad_reduce_to.restype = ctypes.c_int
    lib.lossgrad_stream_floor.argtypes = [ctypes.c_int32, ctypes.POINTER(ctypes.c_void_p), ctypes.c_int64,
                                          ctypes.c_void_p, ctypes.c_int64]
    lib.lossgrad_stream_floor.restype = None
    lib.lossgrad_num_threads.restype = ctypes.c_int64
    lib.lossgrad_set_num_threads.argtypes = [ctypes.c_int64, ctypes.c_char_p, ctypes.c_int64]
    lib.lossgrad_set_num_threads.restype = ctypes.c_int
    lib.lossgrad_pool_note.argtypes = [ctypes.c_char_p, ctypes.c_int64]
    lib.lossgrad_pool_note.restype = ctypes.c_int64
    lib.lossgrad_parallel_threshold.restype = ctypes.c_int64
    lib.lossgrad_isa.restype = ctypes.c_int32
    lib.lossgrad_isa_name.argtypes = [ctypes.c_int32]
    lib.lossgrad_isa_name.restype = ctypes.c_char_p
    lib.lossgrad_isa_available.argtypes = [ctypes.c_int32]
    lib.lossgrad_isa_available.restype = ctypes.c_int32
    lib.lossgrad_isa_note.restype = ctypes.c_char_p
    # An unknown LOSSGRAD_ISA, or a level this machine lacks, is a warning (the library uses another).
    isa_note = lib.lossgrad_isa_note()
    if isa_note:
        warnings.warn(f"framework.cpu: {isa_note.decode(errors='replace')}", RuntimeWarning, stacklevel=4)
    # Starts the pool: a bad LOSSGRAD_NUM_THREADS, or fewer threads than it asks for, is a warning.
    note = ctypes.create_string_buffer(1024)
    if lib.lossgrad_pool_note(note, len(note)):
        warnings.warn(f"framework.cpu: {note.value.decode(errors='replace')}", RuntimeWarning, stacklevel=4)
    return lib


_lib: Optional[ctypes.CDLL] = None


def _library() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        _lib = _load()
    return _lib


def num_threads() -> int:
    """Threads of the native pool (including the calling thread)."""
    return int(_library().lossgrad_num_threads())


def set_num_threads(n: int) -> None:
    """Resize the native pool to ``n`` threads, the caller included: an integer from 1 to
    1024 (the native ``kMaxThreads``), else ValueError; not an integer: TypeError. Results
    do not depend on it, only speed. RuntimeError if the system will not start that many
    threads (the pool then keeps its previous size)."""
    if isinstance(n, (bool, np.bool_)) or not hasattr(type(n), "__index__"):
        raise TypeError(f"set_num_threads: n must be an integer; got {type(n).__name__}")
    n = operator.index(n)
    lib, err = _library(), ctypes.create_string_buffer(512)
    rc = lib.lossgrad_set_num_threads(n if -2**63 <= n < 2**63 else 0, err, len(err))  # 0: out of range too
    if rc == 1:
        raise ValueError(f"{err.value.decode(errors='replace')}; got {n}")
    if rc:
        raise RuntimeError(err.value.decode(errors="replace"))


def parallel_threshold() -> int:
    """Element count from which a call is split over the pool."""
    return int(_library().lossgrad_parallel_threshold())


def isa() -> str:
    """The instruction-set level the native kernels run at: ``"baseline"``, ``"avx2"`` or
    ``"avx512"``, chosen when the library loads (the best this machine runs, or the environment
    variable ``LOSSGRAD_ISA``). Every level gives the same bits; only speed differs."""
    lib = _library()
    return lib.lossgrad_isa_name(lib.lossgrad_isa()).decode()


def isa_levels() -> list:
    """The instruction-set levels this build has and this machine runs, lowest first."""
    lib, levels, i = _library(), [], 0
    while (name := lib.lossgrad_isa_name(i)) is not None:
        if lib.lossgrad_isa_available(i):
            levels.append(name.decode())
        i += 1
    return levels


def _ref(a: np.ndarray) -> _TensorRef:
    t = _TensorRef()
    t.data = a.ctypes.data if a.size else None
    t.dtype = DTYPES.index(dtype_name(a.dtype))
    t.ndim = a.ndim
    for k, (dim, st) in enumerate(zip(a.shape, a.strides)):
        t.shape[k] = dim
        t.strides[k] = st // a.itemsize
    return t


def _native_order(dtype: np.dtype) -> np.dtype:
    return dtype if dtype.isnative else dtype.newbyteorder("=")


def _prepare(a: np.ndarray) -> np.ndarray:
    """``a`` as the kernel may read it: native byte order, aligned, whole-element strides.

    The kernel takes any element strides; anything else NumPy allows (non-native
    byte order, an unaligned buffer such as ``np.frombuffer(..., offset=1)``, the
    field of a structured array) is converted into a fresh array, as NumPy's
    ufuncs do. (``np.ascontiguousarray`` would not do: it keeps an unaligned
    contiguous array as it is.)
    """
    native = _native_order(a.dtype)
    if native != a.dtype or not a.flags.aligned or any(st % a.itemsize for st in a.strides):
        return a.astype(native, order="C", copy=True)  # a new buffer: aligned
    return a


def _check_out(op: OpDef, out: Any, shape: Sequence[int], dtype: str) -> np.ndarray:
    """Raise the docs/SPEC.md error if ``out`` cannot receive a result of ``shape`` and ``dtype``.

    ``out`` must be what the kernel writes directly: a NumPy array of exactly the
    output's shape and dtype (native byte order, C order), writable and aligned.
    Nothing is converted behind the caller's back: that would defeat ``out=``.
    """
    if not isinstance(out, np.ndarray):
        raise TypeError(MESSAGES["out_not_array"].format(op=op.name, type=type(out).__name__))
    if not out.dtype.isnative:
        raise ValueError(MESSAGES["out_byte_order"].format(op=op.name, dtype=out.dtype.str))
    if out.shape != tuple(shape) or out.dtype != np_dtype(dtype) or not out.flags.c_contiguous:
        got = (f"a {'C-contiguous' if out.flags.c_contiguous else 'non-C-contiguous'} "
               f"{dtype_name(out.dtype)} array of shape {out.shape}")
        raise ValueError(MESSAGES["bad_out"].format(op=op.name, dtype=dtype, shape=tuple(shape), got=got))
    if not out.flags.writeable:
        raise ValueError(MESSAGES["out_read_only"].format(op=op.name))
    if not out.flags.aligned:
        raise ValueError(MESSAGES["out_unaligned"].format(op=op.name, dtype=dtype))
    return out


def _same_view(a: np.ndarray, out: np.ndarray) -> bool:
    """``a`` is ``out`` itself: same memory, dtype, shape and strides."""
    return (a.ctypes.data == out.ctypes.data and a.dtype == out.dtype and a.shape == out.shape
            and a.strides == out.strides)


def _needs_temporary(arrays: Sequence[np.ndarray], out: np.ndarray, shape: Sequence[int]) -> bool:
    """Whether the kernel must write a temporary instead of ``out`` (then copied into it).

    NumPy's ufunc rule: an ``out=`` that overlaps an input gives the result a fresh
    output would. Writing ``out`` directly is safe only when each input either
    shares no memory with it or *is* it, unbroadcast (of the broadcast shape): the
    kernel reads every element of that input at a flat position before it writes
    the output at that same position, and at no other (elementwise tiles, tasks
    over disjoint ranges; a reduced loss writes its single element after reading
    everything). ``np.may_share_memory`` only compares address bounds, so a
    false "overlap" costs a copy, never a wrong value.
    """
    return any(np.may_share_memory(a, out) and not (_same_view(a, out) and a.shape == tuple(shape))
               for a in arrays)


def _run(op: OpDef, plan: Any, arrays: Sequence[np.ndarray], out: np.ndarray) -> None:
    refs = (_TensorRef * len(arrays))(*[_ref(a) for a in arrays])
    out_ref = _ref(out)
    err = ctypes.create_string_buffer(1024)
    rc = _library().lossgrad_run(op.native_id, _attr_array(op, dict(plan.attrs)), len(arrays),
                                 refs, ctypes.byref(out_ref), err, len(err))
    if rc:
        raise (TypeError if rc == 2 else ValueError)(err.value.decode())


def _call_full(op: OpDef, arrays: Sequence[np.ndarray], attrs: Mapping[str, Any],
               out: Optional[np.ndarray] = None) -> Tuple[np.ndarray, Any]:
    """The full path of a call: validate, check ``out``, convert inputs, run. Returns the result
    and the plan (what the small-call cache keeps)."""
    attrs = dict(attrs)
    # raises the docs/SPEC.md errors before any native code runs
    plan = plan_for(op, arrays, attrs.pop("reduction", DEFAULT_REDUCTION), **attrs)
    if out is not None:
        _check_out(op, out, plan.out_shape, plan.dtype)
    arrays = [_prepare(a) for a in arrays]
    if out is None:
        out = np.empty(plan.out_shape, dtype=np_dtype(plan.dtype))
    elif _needs_temporary(arrays, out, plan.shape):
        result = np.empty(out.shape, out.dtype)
        _run(op, plan, arrays, result)
        out[...] = result
        return out, plan
    _run(op, plan, arrays, out)
    return out, plan


# -- small calls ------------------------------------------------------------------------------
# A call whose inputs are NumPy arrays the kernel can read as they are (native byte order, whole-element
# strides, aligned) looks up what its first call validated, keyed by everything validation reads: the op,
# each attribute value as given (with its type, a float by its exact bits), and each input's shape, strides
# and dtype. A hit skips validation and builds no ctypes structure: the cached geometry and attribute array
# are immutable and only read by the native side (lossgrad_run_direct), so threads share entries; the data
# pointers are plain call arguments. A call that raises is never cached, so its error comes on every call.

class _Direct:
    """What a successful call validated, for the calls of the same key (immutable once built)."""
    __slots__ = ("plan", "attrs", "geometry", "out_shape", "out_dtype", "itemsizes", "ninputs")

    def __init__(self, op: OpDef, plan: Any, arrays: Sequence[np.ndarray]) -> None:
        self.plan = plan
        self.attrs = _attr_array(op, dict(plan.attrs))
        self.out_dtype = np_dtype(plan.dtype)
        self.out_shape = tuple(plan.out_shape)
        out = np.empty((0,) * len(self.out_shape), self.out_dtype)  # its geometry, with the real shape below
        refs = [_ref(a) for a in arrays] + [_ref(out)]
        for ref in refs:
            ref.data = None
        for k, dim in enumerate(self.out_shape):
            refs[-1].shape[k] = dim
        self.geometry = (_TensorRef * len(refs))(*refs)
        self.itemsizes = tuple(a.itemsize for a in arrays)
        self.ninputs = len(arrays)


#: key (see above) -> _Direct; dict reads and writes are atomic, entries immutable: thread-safe
_DIRECT: Dict[tuple, _Direct] = {}
#: entries kept at most (then the cache starts over: a long run over ever new shapes stays bounded)
DIRECT_CACHE_SIZE = 1024


def _direct_key(op: OpDef, arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> Optional[tuple]:
    """The cache key of a call, or None when it cannot be cached (an unhashable attribute value)."""
    try:
        key = (op.native_id, *[(name, attribute_cache_key(v)) for name, v in attrs.items()],
               *[(a.shape, a.strides, a.dtype) for a in arrays])
        hash(key)
    except TypeError:
        return None
    return key


def _directly_readable(arrays: Sequence[np.ndarray]) -> bool:
    return all(a.dtype.isnative and a.flags.aligned and not any(st % a.itemsize for st in a.strides)
               for a in arrays)


def _call(op: OpDef, inputs: Sequence[Any], attrs: Mapping[str, Any],
          out: Optional[np.ndarray] = None) -> np.ndarray:
    arrays = [x if type(x) is np.ndarray else np.asarray(x) for x in inputs]
    key = _direct_key(op, arrays, attrs)
    entry = _DIRECT.get(key) if key is not None else None
    if entry is None:
        result, plan = _call_full(op, arrays, attrs, out)
        if key is not None and len(arrays) <= MAX_INPUTS and _directly_readable(arrays):
            if len(_DIRECT) >= DIRECT_CACHE_SIZE:
                _DIRECT.clear()
            _DIRECT[key] = _Direct(op, plan, arrays)
        return result
    ptrs = [a.ctypes.data for a in arrays]
    if any(p % size for p, size in zip(ptrs, entry.itemsizes)):  # an unaligned buffer: the full path converts it
        return _call_full(op, arrays, attrs, out)[0]
    if out is None:
        target = out = np.empty(entry.out_shape, entry.out_dtype)
    else:
        plan = entry.plan
        _check_out(op, out, plan.out_shape, plan.dtype)
        target = np.empty(out.shape, out.dtype) if _needs_temporary(arrays, out, plan.shape) else out
    ptrs += [None] * (MAX_INPUTS - len(ptrs))
    if _library().lossgrad_run_direct(op.native_id, entry.attrs, entry.ninputs, entry.geometry, *ptrs,
                                      target.ctypes.data, None, 0):
        return _call_full(op, arrays, attrs, out)[0]  # not expected: the full path raises the error with its message
    if target is not out:
        out[...] = target
    return out


def reduce_to(t: Any, shape: Sequence[int], dtype: Any = None, negate: bool = False) -> np.ndarray:
    """Native ``reduce_to``: sum ``t`` over the axes broadcasting added or expanded
    to reach it from ``shape``, as ``dtype`` (default: ``t``'s), negated if asked.
    The helper of the gradient formulas (the MindSpore bprops run it as a primitive)."""
    a = _prepare(np.asarray(t))
    # ``dtype`` names the element type; the result is in native byte order (as ``a`` now is)
    out = np.empty(tuple(int(d) for d in shape), dtype=a.dtype if dtype is None else _native_order(np.dtype(dtype)))
    if dtype_name(out.dtype) not in DTYPES or dtype_name(a.dtype) not in DTYPES:
        raise TypeError(MESSAGES["reduce_to_dtype"].format(op="reduce_to", dtype=a.dtype, target=out.dtype))
    if len(out.shape) > MAX_RANK or a.ndim > MAX_RANK:
        raise ValueError(f"reduce_to: rank above {MAX_RANK}")
    in_ref, out_ref = _ref(a), _ref(out)
    err = ctypes.create_string_buffer(512)
    rc = _library().lossgrad_reduce_to(ctypes.byref(in_ref), ctypes.byref(out_ref), -1.0 if negate else 1.0, err,
                                len(err))
    if rc:
        raise (TypeError if rc == 2 else ValueError)(err.value.decode())
    return out


def _with_fast_binding(op: OpDef, face: Any) -> Any:
    """``face`` (from registry.make_face) with a front for the commonest small call, the op's inputs
    alone, positionally: it skips the general argument binding (a few µs of dicts and comprehensions)
    and passes the declared defaults, a read-only mapping shared by the calls. Anything else (attributes,
    keywords, out=, a wrong argument count) goes to ``face``, which binds and reports as before."""
    arity = len(op.inputs)
    defaults = MappingProxyType({a.name: a.default for a in op.attributes})

    def fast(*args, **kwargs):
        if not kwargs and len(args) == arity:
            return _call(op, args, defaults)
        return face(*args, **kwargs)

    for attr in ("__name__", "__qualname__", "__module__", "__doc__", "__signature__"):
        setattr(fast, attr, getattr(face, attr))
    fast.__wrapped__ = face  # type: ignore[attr-defined]
    return fast


for _op in OPS.values():  # one public function per declared op: inputs, attributes, out=
    _fn = _with_fast_binding(_op, make_face(_op, _call, __name__, f"Native ``{_op.name}``: {_op.doc} ``out``: "
                                            "see the module doc.", keyword_only=(("out", None),)))
    globals()[_fn.__name__] = _fn
    __all__.append(_fn.__name__)
del _op, _fn


def run(op_name: str, *inputs: Any, reduction: ReductionArg = DEFAULT_REDUCTION, **attrs: Any) -> np.ndarray:
    """Native kernel of the op called ``op_name`` (any op of ``definitions.OPS``), inputs in its declared order."""
    return _call(OPS[op_name], inputs, dict(attrs, reduction=reduction))


def stream_floor(inputs: Sequence[np.ndarray], out: np.ndarray) -> None:
    """Benchmark helper: one native pass reading every byte of ``inputs`` and writing
    every byte of ``out`` (XOR of 64-bit words), on the same thread pool and task
    size as the kernels: the memory-bandwidth floor of an op with these buffers.
    Inputs must be C-contiguous and of equal byte size."""
    arrays = [np.ascontiguousarray(a) for a in inputs]
    if len({a.nbytes for a in arrays}) != 1 or not out.flags.c_contiguous:
        raise ValueError("stream_floor: inputs must have equal byte sizes and out must be contiguous")
    lib = _library()
    ptrs = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
    if out.nbytes != arrays[0].nbytes:  # a reduced loss: a read-only pass (out gets a scratch word)
        out, out_bytes = np.empty(1, np.uint64), 0
    else:
        out_bytes = out.nbytes
    lib.lossgrad_stream_floor(ctypes.c_int32(len(arrays)), ptrs, ctypes.c_int64(arrays[0].nbytes),
                              ctypes.c_void_p(out.ctypes.data), ctypes.c_int64(out_bytes))

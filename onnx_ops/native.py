"""The native onnxruntime custom-op library and onnxruntime sessions.

The library ``onnx_ops/_lossgrad_ort.so`` is built at install time from the
shared C++ kernel core when onnxruntime's C API headers can be had (see
``CMakeLists.txt`` and ``tools/ort_headers.py``); it registers the domain
``ai.lossgrad`` with onnxruntime's CPU execution provider and runs the kernels
on the session's intra-op thread pool. Without it, sessions run the ONNX
function bodies (:func:`onnx_ops.add_functions`); :func:`native_status` says
why. ``LOSSGRAD_ORT_DISABLE_NATIVE=1`` makes it unavailable at run time.
"""
from __future__ import annotations

import ctypes
import glob
import importlib.machinery
import os
import threading
import warnings
from typing import Any, Dict, Optional, Sequence, Union

import onnx

__all__ = ["NativeLibraryUnavailable", "library_path", "native_available", "native_status", "session_options",
           "inference_session", "native_stats"]

_HERE = os.path.dirname(os.path.abspath(__file__))
_STEM = "_lossgrad_ort"
_BUILD_STATUS = os.path.join(_HERE, "_build_status.txt")  # the build's outcome, written by CMakeLists.txt


class NativeLibraryUnavailable(ImportError):
    """The onnxruntime custom-op library was not built (or cannot be loaded)."""


def _find_library() -> Optional[str]:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(_HERE, _STEM + suffix)
        if os.path.exists(path):
            return path
    found = sorted(glob.glob(os.path.join(_HERE, _STEM + "*.so")))
    return found[0] if found else None


def library_path() -> str:
    """Absolute path of the onnxruntime custom-op library.

    For ``SessionOptions.register_custom_ops_library``. Raises
    :class:`NativeLibraryUnavailable` if it was not built.
    """
    if os.environ.get("LOSSGRAD_ORT_DISABLE_NATIVE") == "1":
        raise NativeLibraryUnavailable("the onnxruntime custom-op library is disabled (LOSSGRAD_ORT_DISABLE_NATIVE=1)")
    path = _find_library()
    if path is None:
        raise NativeLibraryUnavailable(
            f"the onnxruntime custom-op library of lossgrad-ops was {_build_status() or 'not built'}; reinstall "
            "with ORT_INCLUDE_DIR set to onnxruntime's C API headers, or run the ONNX function bodies "
            "(onnx_ops.add_functions)")
    return path


def _build_status() -> str:
    try:
        with open(_BUILD_STATUS, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""


_load_error: Optional[str] = None


def native_available() -> bool:
    """Whether the native onnxruntime kernels are available (built, loadable, not disabled)."""
    global _load_error
    try:
        path = library_path()
    except NativeLibraryUnavailable:
        return False
    if _load_error is None:
        try:
            ctypes.CDLL(path)
            _load_error = ""
        except OSError as exc:
            _load_error = str(exc)
    return not _load_error


def native_status() -> str:
    """One line: whether the native kernels are in use, and why (not) — for logs and bug reports."""
    if os.environ.get("LOSSGRAD_ORT_DISABLE_NATIVE") == "1":
        return "disabled by LOSSGRAD_ORT_DISABLE_NATIVE=1; sessions run the ONNX function bodies"
    build = _build_status() or "status of the build unknown"
    if _find_library() is None:
        return f"unavailable: the library was {build}; sessions run the ONNX function bodies"
    if not native_available():
        return f"unavailable: the library fails to load ({_load_error}); sessions run the ONNX function bodies"
    return f"available: {_find_library()} ({build})"


_fallback_warned = False


def session_options(native: Optional[bool] = None, options: Any = None, **settings: Any):
    """``onnxruntime.SessionOptions`` with the custom-op library registered.

    ``native``: ``None`` registers the library when it is available, ``True``
    requires it (raises :class:`NativeLibraryUnavailable` otherwise), ``False``
    leaves it out (the model must then carry the function bodies).
    ``options``: an existing ``SessionOptions`` to register into (default: a
    new one). ``settings`` are set as attributes, e.g.
    ``intra_op_num_threads=2``.
    """
    import onnxruntime as ort

    so = options if options is not None else ort.SessionOptions()
    for key, value in settings.items():
        if not hasattr(so, key):
            raise AttributeError(f"onnxruntime.SessionOptions has no setting {key!r}")
        setattr(so, key, value)
    if native is None:
        native = native_available()
    if native:
        so.register_custom_ops_library(library_path())
    return so


def inference_session(model: Union[onnx.ModelProto, bytes, str, os.PathLike], native: Optional[bool] = None,
                      providers: Sequence[str] = ("CPUExecutionProvider",), **settings: Any):
    """An ``onnxruntime.InferenceSession`` for a model with ``ai.lossgrad`` nodes.

    ``native`` as in :func:`session_options`. ``settings`` go to
    ``SessionOptions``.

    Without the native library the nodes run function bodies, and those are
    always re-derived from the nodes' attributes (:func:`onnx_ops.add_functions`
    on a copy of the model; the caller's model is not changed): a node whose
    ``overload`` disagrees with its ``reduction`` attribute (edited after
    ``add_functions``) is fixed in the copy, so it runs what its attribute
    says, as the native kernels and the reference evaluators do. Raises
    ``ValueError`` (the shared messages) for a node with a bad, mistyped or
    duplicated ``reduction``, and ``TypeError`` for unsupported element types.
    With the native library the kernels read the attributes themselves.
    """
    import onnxruntime as ort

    from .functions import add_functions, lossgrad_nodes

    global _fallback_warned
    if native is None:
        native = native_available()
        if not native and not _fallback_warned:
            _fallback_warned = True
            warnings.warn(f"lossgrad_ops.onnx_ops: native onnxruntime kernels {native_status()}", RuntimeWarning,
                          stacklevel=2)
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load_model_from_string(model) if isinstance(model, bytes) else onnx.load(os.fspath(model))
    if not native and lossgrad_nodes(model):
        model = add_functions(model)  # a copy, overloads and bodies re-derived from the attributes
    so = session_options(native=native, **settings)
    return ort.InferenceSession(model.SerializeToString(), so, providers=list(providers))


_lib_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None


def native_stats() -> Dict[str, int]:
    """Counters of the native library in this process (for tests and diagnostics).

    ``compute_calls``: kernel invocations; ``parallel_calls``: invocations that
    handed tasks to onnxruntime's intra-op thread pool; ``parallel_threshold``:
    the element count from which a call does so. ctypes loads the same
    library handle onnxruntime opened, so these are the counters of the
    kernels onnxruntime runs.
    """
    global _lib
    with _lib_lock:
        if _lib is None:
            lib = ctypes.CDLL(library_path())
            for name in ("lossgrad_ort_compute_calls", "lossgrad_ort_parallel_calls"):
                getattr(lib, name).restype = ctypes.c_uint64
            lib.lossgrad_ort_parallel_threshold.restype = ctypes.c_int64
            _lib = lib
    return {"compute_calls": int(_lib.lossgrad_ort_compute_calls()),
            "parallel_calls": int(_lib.lossgrad_ort_parallel_calls()),
            "parallel_threshold": int(_lib.lossgrad_ort_parallel_threshold())}

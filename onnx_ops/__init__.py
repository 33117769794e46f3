"""ONNX binding of lossgrad-ops: the ``ai.lossgrad`` domain (opset 1).

* :func:`register_schemas` (done on import): ``onnx.defs`` schemas of every
  op of ``framework.definitions.OPS`` with type-and-shape inference, so
  ``onnx.checker`` and ``onnx.shape_inference`` know the ops.
* :func:`add_functions`: attach ONNX function bodies (standard ops only) so a
  model runs in any onnxruntime and ONNX tool without extra binaries.
* :func:`library_path`, :func:`native_available`, :func:`native_status`,
  :func:`session_options`, :func:`inference_session`: the native onnxruntime kernels.
* :data:`REFERENCE_OPS`, :func:`reference_evaluator`: ``onnx.reference`` ops.
* :func:`export`: a MindSpore network using ``ms_ops`` to an ONNX model.

Everything derives from :mod:`framework.definitions` (the ops the families of
:mod:`framework.families` declare, with their ONNX body builders).
"""
from ..framework.definitions import DOMAIN, OPSET_VERSION

from .functions import (DEFAULT_OPSET, MIN_OPSET, MIN_OPSET_BFLOAT16, add_functions, function_proto, functions_for,
                        lossgrad_nodes, overload_name)
from .native import (NativeLibraryUnavailable, inference_session, library_path, native_available, native_stats,
                     native_status, session_options)
from .schemas import DTYPE_NAMES, ONNX_DTYPES, get_schema, make_schema, register_schemas

register_schemas()

from .reference_ops import REFERENCE_OPS, reference_evaluator  # noqa: E402  (needs the schemas)
from .export import (ATC_MAX_IR_VERSION, ATC_OPSETS, ExportError, ExportPrecisionWarning, ExportTypeError,  # noqa: E402
                     ExportValueError, export, rewrite_mindspore_model)

__all__ = [
    "DOMAIN", "OPSET_VERSION", "DEFAULT_OPSET", "MIN_OPSET", "MIN_OPSET_BFLOAT16", "DTYPE_NAMES", "ONNX_DTYPES",
    "register_schemas", "make_schema", "get_schema", "add_functions", "function_proto", "functions_for",
    "lossgrad_nodes", "overload_name", "NativeLibraryUnavailable", "library_path", "native_available", "native_status",
    "session_options", "inference_session", "native_stats", "REFERENCE_OPS", "reference_evaluator", "export",
    "rewrite_mindspore_model", "ATC_OPSETS", "ATC_MAX_IR_VERSION", "ExportError", "ExportValueError", "ExportTypeError", "ExportPrecisionWarning",
]

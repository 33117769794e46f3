"""lossgrad-ops framework core: op definitions, validation, gradient formulas,
the NumPy reference and the native CPU kernels (``framework.cpu``).

The bindings (``ms_ops`` for MindSpore, ``onnx_ops`` for ONNX/onnxruntime) derive
everything from here. ``framework.cpu`` is imported lazily because it loads the
native library.
"""
from . import definitions, gradients
from .definitions import (DEFAULT_REDUCTION, DOMAIN, DTYPES, L1_LOSS, L1_LOSS_GRAD, MAX_RANK, MSE_LOSS,
                          MSE_LOSS_GRAD, OPS, OPSET_VERSION, REDUCTIONS, OpDef, Plan,
                          normalize_reduction, reduction_index)

__all__ = ["definitions", "gradients", "DEFAULT_REDUCTION", "DOMAIN", "DTYPES", "L1_LOSS", "L1_LOSS_GRAD",
           "MAX_RANK", "MSE_LOSS", "MSE_LOSS_GRAD", "OPS", "OPSET_VERSION", "REDUCTIONS", "OpDef", "Plan",
           "normalize_reduction", "reduction_index"]
__version__ = "0.1.0"

"""lossgrad-ops framework core: op definitions, validation, gradient formulas,
the NumPy reference and the native CPU kernels (``framework.cpu``).

The ops are declared by the families of :mod:`framework.families` (one module per
family) and collected by :mod:`framework.registry`; :mod:`framework.definitions`
is the public table. The bindings (``ms_ops`` for MindSpore, ``onnx_ops`` for
ONNX/onnxruntime) derive everything from here. ``framework.cpu`` is imported
lazily because it loads the native library.
"""
from . import definitions, gradients, registry, rules
from .definitions import (DEFAULT_REDUCTION, DOMAIN, DTYPES, MAX_RANK, OPS, OPSET_VERSION, REDUCTIONS, OpDef, Plan,
                          normalize_reduction, reduction_index)

__all__ = ["definitions", "gradients", "registry", "rules", "DEFAULT_REDUCTION", "DOMAIN", "DTYPES", "MAX_RANK",
           "OPS", "OPSET_VERSION", "REDUCTIONS", "OpDef", "Plan", "normalize_reduction", "reduction_index"]
# each declared op as its constant (an op FooLossGrad as FOO_LOSS_GRAD)
__all__ += [registry.constant_name(name) for name in OPS]
globals().update({registry.constant_name(name): op for name, op in OPS.items()})
__version__ = "0.1.0"

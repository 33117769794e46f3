"""lossgrad-ops: loss-gradient operators for MindSpore and ONNX with a native C++ core.

Subpackages (imported on demand; importing ``lossgrad_ops`` alone loads nothing else):

* :mod:`lossgrad_ops.framework`: op definitions, validation, gradient formulas, the NumPy
  reference and the native CPU kernels (``lossgrad_ops.framework.cpu``);
* :mod:`lossgrad_ops.onnx_ops`: the ONNX ``ai.lossgrad`` domain (schemas, function bodies,
  onnxruntime kernels); needs no MindSpore;
* :mod:`lossgrad_ops.ms_ops`: MindSpore ops and Cells; needs the ``mindspore`` extra
  (``pip install 'lossgrad-ops[mindspore]'``).

The contract of the ops is docs/SPEC.md in the source distribution.
"""
__version__ = "0.1.0"
__all__ = ["__version__"]

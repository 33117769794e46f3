"""MindSpore binding of lossgrad-ops.

Functional API (:mod:`ms_ops.functional`): one function per declared op, named after
it (``foo_loss_grad``, ``foo_loss``), and ``foo_loss_backward`` in the aclnn/PyTorch
argument order; Cells (:mod:`ms_ops.nn`) that are drop-ins for the ``mindspore.nn``
losses. On CPU the ops run the native kernels of ``framework``; on Ascend they bind
the CANN operators of the same op type. All are differentiable to second order.
"""
try:
    import mindspore  # noqa: F401
except ImportError as _exc:
    raise ImportError("lossgrad_ops.ms_ops needs MindSpore, which is an optional dependency: install it with "
                      "pip install 'lossgrad-ops[mindspore]'") from _exc

from . import functional as _functional
from . import nn as _nn

globals().update({name: getattr(_functional, name) for name in _functional.__all__})
globals().update({name: getattr(_nn, name) for name in _nn.__all__})

__all__ = [*_functional.__all__, *_nn.__all__]

"""MindSpore binding of lossgrad-ops.

Functional API: :func:`mse_loss_grad`, :func:`l1_loss_grad`, :func:`mse_loss_backward`,
:func:`l1_loss_backward`, :func:`mse_loss`, :func:`l1_loss`; Cells :class:`MSELoss`,
:class:`L1Loss` (drop-in for ``mindspore.nn.MSELoss`` / ``nn.L1Loss``). On CPU the ops
run the native kernels of ``framework``; on Ascend they bind the CANN operators
of the same op type. All are differentiable to second order.
"""
try:
    import mindspore  # noqa: F401
except ImportError as _exc:
    raise ImportError("lossgrad_ops.ms_ops needs MindSpore, which is an optional dependency: install it with "
                      "pip install 'lossgrad-ops[mindspore]'") from _exc

from .functional import l1_loss, l1_loss_backward, l1_loss_grad, mse_loss, mse_loss_backward, mse_loss_grad
from .nn import L1Loss, MSELoss

__all__ = ["mse_loss_grad", "l1_loss_grad", "mse_loss_backward", "l1_loss_backward", "mse_loss", "l1_loss",
           "MSELoss", "L1Loss"]

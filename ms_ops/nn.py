"""``nn.Cell`` losses: drop-in replacements for ``mindspore.nn.MSELoss`` / ``nn.L1Loss``."""
from __future__ import annotations

from typing import Union

from mindspore import Tensor, nn

from ..framework.definitions import normalize_reduction
from . import functional as F

__all__ = ["MSELoss", "L1Loss"]


class MSELoss(nn.Cell):
    """Mean squared error with the lossgrad kernels (forward ``MseLoss``, backward
    ``MseLossGrad``). ``reduction``: "none", "mean" (default), "sum" or 0/1/2."""

    def __init__(self, reduction: Union[str, int] = "mean") -> None:
        super().__init__()
        self.reduction = normalize_reduction(reduction, "MSELoss")  # fail at construction, not first call

    def construct(self, logits: Tensor, labels: Tensor) -> Tensor:
        return F._loss("MseLoss", ("logits", "labels"), logits, labels, self.reduction)


class L1Loss(nn.Cell):
    """Mean absolute error with the lossgrad kernels (forward ``L1Loss``, backward
    ``L1LossGrad``). ``reduction``: "none", "mean" (default), "sum" or 0/1/2."""

    def __init__(self, reduction: Union[str, int] = "mean") -> None:
        super().__init__()
        self.reduction = normalize_reduction(reduction, "L1Loss")

    def construct(self, logits: Tensor, labels: Tensor) -> Tensor:
        return F._loss("L1Loss", ("logits", "labels"), logits, labels, self.reduction)

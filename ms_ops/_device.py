"""The device choice, in one place: which backend the ms_ops primitives bind to."""
from __future__ import annotations

import mindspore as ms

__all__ = ["device_target", "SUPPORTED_TARGETS"]

#: "CPU" runs the native kernels of framework/ (aot); "Ascend" binds the CANN
#: operators of the same op type from the installed op package.
SUPPORTED_TARGETS = ("CPU", "Ascend")


def device_target() -> str:
    """The MindSpore device target in effect ("CPU" or "Ascend").

    Raises ``RuntimeError`` for targets this package has no kernels for (GPU).
    """
    target = ms.get_context("device_target")
    if target not in SUPPORTED_TARGETS:
        raise RuntimeError(f"lossgrad-ops has no kernels for device_target={target!r}; "
                           f"supported: {', '.join(SUPPORTED_TARGETS)}")
    return target

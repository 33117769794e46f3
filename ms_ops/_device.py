"""The device choice, in one place: which backend the ms_ops primitives bind to."""
from __future__ import annotations

import mindspore as ms

__all__ = ["device_target", "SUPPORTED_TARGETS"]

#: "CPU" runs the native kernels of framework/ (aot); "Ascend" binds the CANN
#: operators of the same op type from the installed op package.
SUPPORTED_TARGETS = ("CPU", "Ascend")


def _context_target() -> str:
    return ms.get_context("device_target")


try:  # what ms.get_context("device_target") returns, without its per-call checks (~13 µs on MindSpore 2.10)
    from mindspore._c_expression import ms_ctx_param as _ms_ctx_param
    from mindspore.context import _context as _ms_context

    _TARGET_PARAM = _ms_ctx_param.device_target
    if not isinstance(_ms_context().get_param(_TARGET_PARAM), str):
        raise ImportError("unexpected device_target parameter")

    def _context_target() -> str:  # noqa: F811 - the fast version of the one above
        return _ms_context().get_param(_TARGET_PARAM)
except (ImportError, AttributeError, TypeError, RuntimeError):  # another MindSpore: the public call above
    pass


def device_target() -> str:
    """The MindSpore device target in effect ("CPU" or "Ascend").

    Raises ``RuntimeError`` for targets this package has no kernels for (GPU).
    """
    target = _context_target()
    if target not in SUPPORTED_TARGETS:
        raise RuntimeError(f"lossgrad-ops has no kernels for device_target={target!r}; "
                           f"supported: {', '.join(SUPPORTED_TARGETS)}")
    return target


#: vendor name of the op package built by framework/ascend/build.sh
ASCEND_VENDOR = "lossgrad"


def find_ascend_package(environ=None) -> str:
    """Directory of the installed lossgrad Ascend op package (the vendor folder).

    Searched as CANN and MindSpore search: every entry of ``ASCEND_CUSTOM_OPP_PATH``
    (a vendor folder itself, e.g. after ``source .../vendors/lossgrad/bin/set_env.bash``),
    then ``$ASCEND_OPP_PATH/vendors/lossgrad``. A package is recognised by its
    ``op_impl/ai_core/tbe/config/<soc>/aic-<soc>-ops-info*.json``. Raises
    ``RuntimeError`` saying how to build and install it when none is found.
    """
    import glob
    import os

    env = os.environ if environ is None else environ
    candidates = [p for p in env.get("ASCEND_CUSTOM_OPP_PATH", "").split(os.pathsep) if p]
    if env.get("ASCEND_OPP_PATH"):
        candidates.append(os.path.join(env["ASCEND_OPP_PATH"], "vendors", ASCEND_VENDOR))
    for path in candidates:
        infos = glob.glob(os.path.join(path, "op_impl", "ai_core", "tbe", "config", "*", "aic-*-ops-info*.json"))
        if infos and os.path.basename(os.path.normpath(path)) == ASCEND_VENDOR:
            return path
    raise RuntimeError(
        "the lossgrad Ascend op package is not installed: build it with framework/ascend/build.sh on a "
        "machine with the CANN toolkit (ASCEND_HOME_PATH), install it, and source "
        f"<install dir>/vendors/{ASCEND_VENDOR}/bin/set_env.bash (searched: {candidates or 'nothing'})")

"""Session guard: the native libraries that the build produces must be there.

The build makes three native libraries: the kernel core
(``framework/_lossgrad_native.so`` in the installed package), the onnxruntime custom-op
library (``onnx_ops/_lossgrad_ort.so``, optional at install time: it needs onnxruntime's
C API headers) and, for the tests only, the Ascend CPU simulation library
(``build/ascend-sim/_lossgrad_ascend_sim.so``, never installed; ``make test`` builds it). If one is missing, the tests that need it
cannot test anything, so the session stops at once with an error naming it,
instead of skipping those tests quietly and passing.

Set ``LOSSGRAD_ALLOW_MISSING_NATIVE=1`` to run anyway (e.g. on a machine without
onnxruntime's headers): then every test that fails because a native library is
unavailable is reported as skipped, with the reason.
"""
from __future__ import annotations

import pytest

from tests.helpers import ALLOW_MISSING_NATIVE_ENV, allow_missing_native, missing_native_libraries


def pytest_sessionstart(session):
    missing = missing_native_libraries()
    if missing and not allow_missing_native():
        lines = "\n".join(f"  - {name}: {why}" for name, why in missing.items())
        pytest.exit(f"native libraries missing, the tests cannot run:\n{lines}\n"
                    f"Build them (`make test` builds and installs them all), or set {ALLOW_MISSING_NATIVE_ENV}=1 "
                    f"to skip the tests that need them.", returncode=pytest.ExitCode.USAGE_ERROR)


def pytest_report_header(config):
    missing = missing_native_libraries()
    if not missing:
        return "lossgrad native libraries: all present"
    return f"lossgrad native libraries MISSING ({ALLOW_MISSING_NATIVE_ENV}=1): {', '.join(missing)}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Under the switch, a test stopped by a missing native library is a skip, not a failure."""
    from lossgrad_ops.framework.cpu import NativeLibraryError
    from lossgrad_ops.onnx_ops import NativeLibraryUnavailable

    try:
        return (yield)
    except (NativeLibraryError, NativeLibraryUnavailable) as exc:
        if allow_missing_native() and missing_native_libraries():
            pytest.skip(f"native library unavailable ({ALLOW_MISSING_NATIVE_ENV}=1): {exc}")
        raise

"""Native build only (metadata lives in setup.cfg).

Builds, at install time (``pip install .`` or ``pip install -e .``):

* ``framework/_lossgrad_native*.so``: the C++ kernel core with its C API (ctypes,
  ``framework.cpu``) and the MindSpore aot entry points (``ms_ops``);
* the onnxruntime custom-op library (``ort_extension``), optional: when it cannot
  be built, ``onnx_ops`` runs the ONNX function bodies instead;
* the Ascend C CPU simulation library (``ascend_sim_extension``) used by the
  Ascend-side tests.

Before compiling, the C++ view of ``framework/definitions.py`` is generated, so
native and Python definitions cannot drift.

Environment: ``LOSSGRAD_SANITIZE=1`` builds with AddressSanitizer and UBSan,
``LOSSGRAD_DEBUG=1`` with -O0 -g; ``LOSSGRAD_BUILD_ONLY=core,ort,ascend`` limits a
development rebuild (``python setup.py build_ext --inplace``) to some libraries.
"""
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "framework"))
import _codegen  # noqa: E402  (pure stdlib; does not import the framework package)

CSRC = "framework/csrc"
CORE_SOURCES = [f"{CSRC}/lossgrad/core.cc", f"{CSRC}/lossgrad/convert.cc", f"{CSRC}/lossgrad/thread_pool.cc"]

# MindSpore loads our library into a process built with the pre-C++11 std::string ABI.
COMMON_FLAGS = ["-std=c++17", "-D_GLIBCXX_USE_CXX11_ABI=0", "-fvisibility=hidden", "-pthread",
                "-Wall", "-Wextra", "-Wshadow", "-Wno-unused-parameter"]
if os.environ.get("LOSSGRAD_SANITIZE"):
    OPT_FLAGS = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                 "-fno-sanitize-recover=undefined"]
    LINK_FLAGS = ["-fsanitize=address,undefined"]
elif os.environ.get("LOSSGRAD_DEBUG"):
    OPT_FLAGS, LINK_FLAGS = ["-O0", "-g"], []
else:
    OPT_FLAGS, LINK_FLAGS = ["-O3", "-fno-math-errno"], []


def native_extension(name, sources, include_dirs=(), optional=False, **kwargs):
    """An Extension with the project's C++ flags (``optional`` ones may fail to build)."""
    ext = Extension(
        name,
        sources=list(sources),
        include_dirs=[CSRC, *include_dirs],
        language="c++",
        extra_compile_args=COMMON_FLAGS + OPT_FLAGS + kwargs.pop("extra_compile_args", []),
        extra_link_args=["-pthread"] + LINK_FLAGS + kwargs.pop("extra_link_args", []),
        **kwargs,
    )
    ext.optional = optional
    return ext


def core_extension():
    """Kernel core + C API (ctypes) + MindSpore aot entries."""
    return native_extension("framework._lossgrad_native",
                            CORE_SOURCES + [f"{CSRC}/capi.cc", f"{CSRC}/ms_aot.cc"])


ORT_MIN_API_VERSION = 17  # KernelContext_ParallelFor; onnxruntime >= 1.17


def _ort_api_version(include_dir):
    """ORT_API_VERSION of the onnxruntime_c_api.h in ``include_dir`` (None if absent)."""
    import re

    try:
        with open(os.path.join(include_dir, "onnxruntime_c_api.h"), encoding="utf-8", errors="replace") as f:
            match = re.search(r"^#define ORT_API_VERSION (\d+)", f.read(), re.M)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def _ort_include_dir():
    """Directory with onnxruntime's C API headers, or None (after printing why).

    Looked up in order: ``$ORT_INCLUDE_DIR``; ``/usr/include/onnxruntime`` and
    ``/usr/local/include/onnxruntime``; a cache under ``build/ort-headers`` (or
    ``$LOSSGRAD_ORT_HEADERS_CACHE``), filled on first use by
    ``tools/fetch_ort_headers.sh`` from Debian's libonnxruntime-dev package
    (set ``LOSSGRAD_ORT_FETCH=0`` to forbid the download). The headers are
    never copied into the source tree.
    """
    import subprocess

    def usable(path):
        version = _ort_api_version(path)
        return version is not None and version >= ORT_MIN_API_VERSION

    explicit = os.environ.get("ORT_INCLUDE_DIR")
    if explicit:
        if usable(explicit):
            return explicit
        print(f"lossgrad-ops: WARNING: ORT_INCLUDE_DIR={explicit} has no onnxruntime_c_api.h with "
              f"ORT_API_VERSION >= {ORT_MIN_API_VERSION}")
        return None
    for path in ("/usr/include/onnxruntime", "/usr/local/include/onnxruntime"):
        if usable(path):
            return path
    cache = os.environ.get("LOSSGRAD_ORT_HEADERS_CACHE") or os.path.join(HERE, "build", "ort-headers")
    cached = os.path.join(cache, "include", "onnxruntime")
    if usable(cached):
        return cached
    if os.environ.get("LOSSGRAD_ORT_FETCH", "1") == "0":
        print("lossgrad-ops: WARNING: no onnxruntime headers found and LOSSGRAD_ORT_FETCH=0")
        return None
    script = os.path.join(HERE, "tools", "fetch_ort_headers.sh")
    print(f"lossgrad-ops: fetching onnxruntime headers into {cache} ({os.path.relpath(script, HERE)})")
    try:
        subprocess.run(["sh", script, cache], check=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"lossgrad-ops: WARNING: fetching the onnxruntime headers failed: {exc}")
        return None
    return cached if usable(cached) else None


def ort_extension():
    """The onnxruntime custom-op library ``onnx_ops._lossgrad_ort`` (optional).

    Built from the shared kernel core and the onnxruntime face in
    ``framework/csrc/ort``. Without onnxruntime's C API headers it is skipped
    with a warning, and ``onnx_ops`` runs the ONNX function bodies instead.
    """
    include_dir = _ort_include_dir()
    if include_dir is None:
        print("lossgrad-ops: WARNING: the onnxruntime custom-op library (onnx_ops._lossgrad_ort) will not be "
              "built; onnx_ops will run the ONNX function bodies. Set ORT_INCLUDE_DIR to a directory with "
              "onnxruntime_c_api.h to build it.")
        return None
    print(f"lossgrad-ops: onnxruntime headers: {include_dir} (ORT_API_VERSION {_ort_api_version(include_dir)})")
    return native_extension(
        "onnx_ops._lossgrad_ort",
        CORE_SOURCES + [f"{CSRC}/ort/lossgrad_ort.cc"],
        include_dirs=[include_dir],
        optional=True,
        depends=[f"{CSRC}/lossgrad/{h}" for h in ("core.h", "convert.h", "half.h", "thread_pool.h")],
        extra_compile_args=[f"-DLOSSGRAD_ORT_MIN_API_VERSION={ORT_MIN_API_VERSION}"],
    )


ASCEND = "framework/ascend"


def ascend_sim_extension():
    """The Ascend C kernel + tiling compiled for the CPU (issue: Ascend side).

    ``framework/_lossgrad_ascend_sim*.so``: the op package's CANN-free tiling
    planner (op_host/lossgrad_tiling_plan.h), the real kernel sources
    (op_kernel/*.cpp) compiled against the host stand-in of the Ascend C API
    (sim/include/kernel_operator.h) and run on simulated AI cores, the op_host
    and ONNX plugin sources built against stand-ins of CANN's registration APIs
    (sim/cann_stubs), behind a C API for ctypes (tests/test_ascend_*.py).
    """
    return native_extension(
        "framework._lossgrad_ascend_sim",
        [f"{ASCEND}/sim/sim_capi.cc", f"{ASCEND}/sim/sim_kernels.cc",
         f"{ASCEND}/sim/host_ops.cc", f"{ASCEND}/sim/host_plugin.cc"],
        include_dirs=[f"{ASCEND}/sim/include", f"{ASCEND}/sim/cann_stubs"],
    )


class BuildNative(build_ext):
    """Generate the definitions header, then build with our flags.

    In-place builds replace each library with a new file (unlink, then copy), so a
    process that has the old one loaded keeps a valid mapping.
    """

    def run(self):
        path = _codegen.write_header()
        print(f"lossgrad-ops: generated {os.path.relpath(path, HERE)}")
        super().run()

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001 - report and continue for optional libraries
            if not getattr(ext, "optional", False):
                raise
            print(f"lossgrad-ops: WARNING: optional library {ext.name} was not built: {exc}")

    def copy_extensions_to_source(self):
        build_py = self.get_finalized_command("build_py")
        for ext in self.extensions:
            inplace_file, regular_file = self._get_inplace_equivalent(build_py, ext)
            if os.path.exists(regular_file) and os.path.exists(inplace_file):
                os.unlink(inplace_file)
        super().copy_extensions_to_source()


_ONLY = {s.strip() for s in os.environ.get("LOSSGRAD_BUILD_ONLY", "").split(",") if s.strip()}
_PARTS = {"core": core_extension, "ort": ort_extension, "ascend": ascend_sim_extension}
EXTENSIONS = [e for key, make in _PARTS.items() if not _ONLY or key in _ONLY for e in [make()] if e is not None]

setup(ext_modules=EXTENSIONS, cmdclass={"build_ext": BuildNative})

"""Native build only (metadata lives in setup.cfg).

Builds ``framework/_lossgrad_native*.so`` from the C++ kernel core at install
time (``pip install .`` or ``pip install -e .``). Before compiling, the C++ view of
``framework/definitions.py`` is generated, so native and Python definitions
cannot drift. Set ``LOSSGRAD_SANITIZE=1`` to build with AddressSanitizer and
UBSan (see the README), ``LOSSGRAD_DEBUG=1`` for -O0 -g.
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


class BuildNative(build_ext):
    """Generate the definitions header, then build as usual with our flags."""

    def run(self):
        path = _codegen.write_header()
        print(f"lossgrad-ops: generated {os.path.relpath(path, HERE)}")
        super().run()


native = Extension(
    "framework._lossgrad_native",
    sources=CORE_SOURCES + [f"{CSRC}/capi.cc"],
    include_dirs=[CSRC],
    language="c++",
    extra_compile_args=COMMON_FLAGS + OPT_FLAGS,
    extra_link_args=["-pthread"] + LINK_FLAGS,
)

setup(ext_modules=[native], cmdclass={"build_ext": BuildNative})

#!/usr/bin/env python3
"""Lint: the generic machinery never names an op (``make lint``).

The design keeps every op in its family's files (``framework/families/*.py``,
``framework/csrc/families/*.h``, ``framework/ascend/op_kernel/families/*.h``, the
Ascend kernel entry files, the generated Ascend op table and the user-facing API of
``ms_ops``); every other file iterates over the declared ops. This reads source text, so it is a lint run by hand
or in review, not a test of behaviour: the test suite checks what the code does.

Run it in the project's venv (it imports the installed ``lossgrad_ops``):
``.venv/bin/python tools/check_generic.py``. Exit status 1 lists each file and name.
"""
from __future__ import annotations

import glob
import os
import sys
from typing import Iterator, List, Tuple

from lossgrad_ops.framework import definitions, registry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Generic files: glob patterns relative to the repository root.
GENERIC = [
    "framework/*.py", "onnx_ops/*.py", "ms_ops/primitives.py", "ms_ops/_registry.py", "ms_ops/_device.py",
    "framework/csrc/*.cc", "framework/csrc/ort/*.cc", "framework/csrc/lossgrad/*.cc", "framework/csrc/lossgrad/*.h",
    "framework/ascend/framework/onnx_plugin/*.cc", "framework/ascend/framework/onnx_plugin/*.h",
    "framework/ascend/framework/onnx_plugin/CMakeLists.txt", "framework/ascend/framework/CMakeLists.txt",
    "framework/ascend/op_kernel/lossgrad_*.h", "framework/ascend/op_kernel/families/family.h",
    "framework/ascend/op_kernel/CMakeLists.txt",
    "framework/ascend/op_host/lossgrad_defs.h", "framework/ascend/op_host/lossgrad_tiling*.h",
    "framework/ascend/op_host/lossgrad_shape.h",
    "framework/ascend/op_host/*.cpp", "framework/ascend/op_host/CMakeLists.txt",
    "framework/ascend/sim/*.cc", "framework/ascend/sim/*.h", "framework/ascend/sim/include/*.h",
    "framework/ascend/sim/cann_stubs/*.h", "framework/ascend/sim/cann_stubs/*/*.h", "framework/ascend/sim/cann_stubs/*/*/*.h",
    "framework/ascend/CMakeLists.txt", "framework/ascend/CMakePresets.json", "framework/ascend/build.sh",
]


def spellings(op: str) -> List[str]:
    """The ways a file could name ``op`` or its family (lower case)."""
    family = registry.FAMILY_OF[op]
    return sorted({op.lower(), registry.function_name(op), f"families.{family}", f"families/{family}"})


def findings() -> Iterator[Tuple[str, str]]:
    for pattern in GENERIC:
        for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
            with open(path, encoding="utf-8") as f:
                text = f.read().lower()
            named = {s for op in definitions.OPS for s in spellings(op) if s in text}
            for spelling in sorted(named):
                yield os.path.relpath(path, ROOT), spelling


def main() -> int:
    bad = list(findings())
    for path, spelling in bad:
        print(f"{path}: names {spelling!r}")
    print(f"check_generic: {len(bad)} finding(s) in the generic files")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

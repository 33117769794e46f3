"""ABI tests of the Ascend simulation library's ctypes binding (tests/ascend_sim.py).

The ctypes mirrors of the library's structures must have its sizes and the tiling
fields its offsets; the tiling counts are 64-bit.
"""
from __future__ import annotations

import ctypes

from tests.ascend_sim import sim


def test_struct_mirrors_match_the_library():
    s = sim()
    assert ctypes.sizeof(s.Tiling) == s.lib.lgsim_sizeof_tiling()
    assert ctypes.sizeof(s.PlanOut) == s.lib.lgsim_sizeof_plan_out()
    assert ctypes.sizeof(s.RunArgs) == s.lib.lgsim_sizeof_run_args()
    assert ctypes.sizeof(s.RunReport) == s.lib.lgsim_sizeof_run_report()
    for name, offset, _, _, _ in s.fields:
        assert getattr(s.Tiling, name).offset == offset, name


def test_tiling_fields_are_64_bit_counts_and_a_float_scale():
    fields = {name: (size, count, kind) for name, _, size, count, kind in sim().fields}
    for name in ("totalLength", "alignElems", "blocksPerCore", "bigCores", "usedCores", "tileLength"):
        assert fields[name] == (8, 1, 0), name  # uint64: element counts never wrap at 2^32
    assert fields["scale"] == (4, 1, 2)
    assert fields["outDims"] == (8, 8, 1)


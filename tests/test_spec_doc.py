"""docs/SPEC.md agrees with the definitions every backend is generated from."""
from __future__ import annotations

import pathlib
import re

from lossgrad_ops.framework import definitions as d

SPEC = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "SPEC.md").read_text(encoding="utf-8")


def test_op_table_lists_every_op_with_its_inputs_in_order():
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| ([^|]+) \| `(\w+)` \|", SPEC, re.M)}
    assert set(rows) == set(d.OPS)
    for name, op in d.OPS.items():
        assert rows[name].strip() == ", ".join(f"`{i}`" for i in op.inputs), name


def test_names_dtypes_reductions_and_limits():
    assert f"`{d.DOMAIN}`, version {d.OPSET_VERSION}" in SPEC
    assert ", ".join(f"`{t}`" for t in d.DTYPES) in SPEC
    for i, red in enumerate(d.REDUCTIONS):
        assert f"`{red}` (aclnn {i}" in SPEC
    assert f"`{d.DEFAULT_REDUCTION}` (aclnn {d.REDUCTIONS.index(d.DEFAULT_REDUCTION)}, the default)" in SPEC
    assert f"| largest rank | {d.MAX_RANK} |" in SPEC


def test_every_error_message_template_is_documented():
    for key, template in d.MESSAGES.items():
        assert f"`{template}`" in SPEC, key

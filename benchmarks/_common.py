"""Helpers shared by the benchmark scripts: size formatting and README table updates."""
from __future__ import annotations

import os

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def fmt_n(n: int) -> str:
    """1000 -> '1e3', 50000000 -> '5e7'."""
    exp = len(str(int(n))) - 1
    mant = n / 10 ** exp
    return f"1e{exp}" if mant == 1 else f"{mant:g}e{exp}"


def write_readme(text: str, marker: str, path: str = README) -> None:
    """Replace what stands between ``<!-- marker:begin -->`` and ``<!-- marker:end -->``."""
    if not os.path.exists(path):
        raise SystemExit(f"{path} does not exist")
    with open(path, encoding="utf-8") as f:
        readme = f.read()
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    if begin not in readme or end not in readme:
        raise SystemExit(f"README.md has no {begin} ... {end} markers")
    head, rest = readme.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{head}{begin}\n{text}\n{end}{tail}")

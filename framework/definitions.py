"""The single definition of every lossgrad op (docs/SPEC.md), shared by all bindings.

The public table: the shared rules of :mod:`framework.rules` and the ops the
families of :mod:`framework.families` declare, collected by
:mod:`framework.registry` (``OPS``, in native-id order; each op also as its
constant: ``FOO_LOSS_GRAD`` for an op ``FooLossGrad``). The Python validation, the native CPU kernels,
the onnxruntime kernels, the ONNX schemas, the MindSpore reg_info and the Ascend
op package all derive from what is declared there.

This module is deliberately pure standard-library Python: the build loads it on
its own (``framework/_codegen.py``, without importing the ``framework`` package or
NumPy) to generate the C++ tables of the native kernels. Loaded that way it
imports the rules, the registry and the family declarations from its own
directory under a private package name.
"""
from __future__ import annotations

import importlib
import os
import sys
import types
from typing import Any, Dict, Optional, Tuple


def _framework_module(name: str) -> types.ModuleType:
    """A sibling module: relative to the package, or from this directory when loaded standalone."""
    if __package__:
        return importlib.import_module(f"{__package__}.{name}")
    package = "_lossgrad_framework_standalone"
    if package not in sys.modules:
        root = types.ModuleType(package)
        root.__path__ = [os.path.dirname(os.path.abspath(__file__))]  # its submodules, not its __init__
        sys.modules[package] = root
    return importlib.import_module(f"{package}.{name}")


_rules = _framework_module("rules")
_registry = _framework_module("registry")

from_rules = [n for n in _rules.__all__]
globals().update({n: getattr(_rules, n) for n in from_rules})

#: All ops by name, in native-id order.
OPS = _registry.OPS
#: every op declaration as its constant (FooLossGrad: FOO_LOSS_GRAD)
_CONSTANTS = {_registry.constant_name(name): op for name, op in OPS.items()}
globals().update(_CONSTANTS)


def custom_reg_name(op: str, reduction: Any = _rules.DEFAULT_REDUCTION, **attrs: Any) -> str:
    """Name of the MindSpore CPU Custom-op registration of ``op`` with these attribute values.

    MindSpore's ONNX exporter writes a Custom op as a bare node whose op_type is
    this name (and drops attributes), so the name carries the op and every declared
    attribute (``"FooLossGrad_mean"``; see :func:`framework.rules.encode_attributes`);
    the ONNX exporter of ``onnx_ops`` parses it back with :func:`parse_custom_reg_name`.
    """
    if op not in OPS:
        raise ValueError(f"unknown lossgrad op {op!r}; known: {', '.join(OPS)}")
    spec = OPS[op]
    return "_".join((op,) + _rules.encode_attributes(spec, spec.attribute_values(reduction, **attrs)))


def parse_custom_reg_name(name: str) -> Optional[Tuple[str, Dict[str, Any]]]:
    """``(op, attribute values)`` of a name made by :func:`custom_reg_name`, else None."""
    op, *tokens = name.split("_")
    if op not in OPS:
        return None
    values = _rules.decode_attributes(OPS[op], tokens)
    return None if values is None else (op, values)


__all__ = from_rules + ["OPS", *_CONSTANTS, "custom_reg_name", "parse_custom_reg_name"]
del from_rules

"""The collected op table: every family module of :mod:`framework.families`, checked.

Every face iterates over :data:`OPS` (and the per-op parts below) and never names
an op. A family that lacks one of its parts (see :mod:`framework.families`), or
whose part tables name an op it does not declare, fails here, at import, with a
message naming the family, the op and the missing part. Standard library only:
the build imports it (through :mod:`framework.definitions`) without NumPy.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType
from typing import Callable, Dict, Tuple

from .rules import OpDef

__all__ = ["PARTS", "FAMILIES", "FAMILY_OF", "OPS", "REFERENCE", "BPROPS", "ONNX_BODIES", "FACES", "constant_name",
           "function_name", "face_signature", "make_face"]

#: what every family module provides: its declarations and, per declared op, one entry in each table
PARTS: Dict[str, str] = {
    "REFERENCE": "float64 reference formula",
    "BPROPS": "gradient formula",
    "ONNX_BODIES": "ONNX function-body builder",
}


def _family_modules() -> Dict[str, ModuleType]:
    package = importlib.import_module(".families", __package__)
    names = sorted(info.name for info in pkgutil.iter_modules(package.__path__) if not info.name.startswith("_"))
    return {name: importlib.import_module(f"{package.__name__}.{name}") for name in names}


def _check(name: str, module: ModuleType) -> Tuple[OpDef, ...]:
    where = f"op family {name!r} (framework/families/{name}.py)"
    ops = getattr(module, "OPS", None)
    if not ops or not all(isinstance(op, OpDef) for op in ops):
        raise ImportError(f"{where} declares no ops: it needs OPS, a tuple of framework.rules.OpDef")
    declared = {op.name for op in ops}
    for part, what in PARTS.items():
        table = getattr(module, part, None)
        if not isinstance(table, dict):
            raise ImportError(f"{where} has no {what}s: it needs {part}, a dict op name -> function")
        for op in ops:
            if not callable(table.get(op.name)):
                raise ImportError(f"{where}: {op.name} has no {what} ({part}[{op.name!r}])")
        stray = sorted(set(table) - declared)
        if stray:
            raise ImportError(f"{where}: {part} names ops the family does not declare: {', '.join(stray)}")
    return tuple(ops)


def _collect() -> Tuple[Dict[str, ModuleType], Dict[str, str], Dict[str, OpDef]]:
    families = _family_modules()
    family_of: Dict[str, str] = {}
    ops = []
    for name, module in families.items():
        for op in _check(name, module):
            if op.name in family_of:
                raise ImportError(f"op {op.name} is declared by the families {family_of[op.name]!r} and {name!r}")
            family_of[op.name] = name
            ops.append(op)
    ops.sort(key=lambda op: op.native_id)
    if [op.native_id for op in ops] != list(range(len(ops))):
        raise ImportError("the native ids of the declared ops must be 0, 1, ... without gaps or repeats; got "
                          + ", ".join(f"{op.name}={op.native_id}" for op in ops))
    return families, family_of, {op.name: op for op in ops}


#: family name -> its module; op name -> family name; all ops by name, in native-id order
FAMILIES, FAMILY_OF, OPS = _collect()


def _table(part: str) -> Dict[str, Callable]:
    return {op: getattr(FAMILIES[FAMILY_OF[op]], part)[op] for op in OPS}


#: op name -> its part (see framework.families)
REFERENCE: Dict[str, Callable] = _table("REFERENCE")
BPROPS: Dict[str, Callable] = _table("BPROPS")
ONNX_BODIES: Dict[str, Callable] = _table("ONNX_BODIES")
#: op name -> its user-facing extras ({} when its family declares none; see framework.families)
FACES: Dict[str, Dict[str, object]] = {op: dict(getattr(FAMILIES[FAMILY_OF[op]], "FACES", {}).get(op, {}))
                                       for op in OPS}


def constant_name(op: str) -> str:
    """The Python constant of an op declaration: ``"FooLossGrad"`` -> ``"FOO_LOSS_GRAD"``."""
    out = []
    for i, c in enumerate(op):
        if c.isupper() and i and (op[i - 1].islower() or op[i - 1].isdigit()):
            out.append("_")
        out.append(c.upper())
    return "".join(out)


def function_name(op: str) -> str:
    """The Python function of an op in the faces: ``"FooLossGrad"`` -> ``"foo_loss_grad"``."""
    return constant_name(op).lower()


def face_signature(op: OpDef, keyword_only: Tuple[Tuple[str, object], ...] = ()) -> inspect.Signature:
    """The Python signature of ``op`` in a face: its inputs, then its declared attributes with
    their defaults (``reduction`` first), then the face's own keyword-only parameters."""
    P = inspect.Parameter
    params = [P(name, P.POSITIONAL_OR_KEYWORD) for name in op.inputs]
    params += [P(a.name, P.POSITIONAL_OR_KEYWORD, default=a.default) for a in op.attributes]
    params += [P(name, P.KEYWORD_ONLY, default=default) for name, default in keyword_only]
    return inspect.Signature(params)


def make_face(op: OpDef, impl: Callable, module: str, doc: str,
              keyword_only: Tuple[Tuple[str, object], ...] = ()) -> Callable:
    """A public function of a face for ``op``, named :func:`function_name` and with :func:`face_signature`.

    Calls ``impl(op, inputs, attrs, **keyword_only)``: the inputs in the op's order and
    the declared attributes by name, as the caller gave them (``impl`` validates).
    """
    signature = face_signature(op, keyword_only)
    name = function_name(op.name)
    positional = [*op.inputs, *(a.name for a in op.attributes)]
    defaults = {**{a.name: a.default for a in op.attributes}, **dict(keyword_only)}
    allowed = set(positional) | set(defaults)

    def face(*args, **kwargs):
        # what signature.bind does, without its cost on every call of a small kernel
        if len(args) > len(positional):
            raise TypeError(f"{name}() takes at most {len(positional)} positional arguments ({len(args)} given)")
        given = dict(zip(positional, args))
        for key, value in kwargs.items():
            if key not in allowed:
                raise TypeError(f"{name}() got an unexpected keyword argument {key!r}")
            if key in given:
                raise TypeError(f"{name}() got multiple values for argument {key!r}")
            given[key] = value
        missing = [n for n in op.inputs if n not in given]
        if missing:
            raise TypeError(f"{name}() missing required arguments: {', '.join(map(repr, missing))}")
        return impl(op, [given[n] for n in op.inputs],
                    {a.name: given.get(a.name, a.default) for a in op.attributes},
                    **{k: given.get(k, d) for k, d in keyword_only})

    face.__name__ = face.__qualname__ = name
    face.__module__ = module
    face.__doc__ = doc
    face.__signature__ = signature  # type: ignore[attr-defined]
    return face

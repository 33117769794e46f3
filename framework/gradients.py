"""The gradient table of docs/SPEC.md, written once over an abstract tensor backend.

A binding (MindSpore bprops, a NumPy backend for tests) supplies a
:class:`GradBackend`; :data:`BPROPS` maps each op name to the function that
returns the gradients with respect to every input of that op:
``BPROPS[op](backend, *inputs, g, attrs)``, ``attrs`` being the op's canonical
attribute values (:attr:`framework.rules.Plan.attrs`). The formulas are
the families' (``BPROPS`` of each module of :mod:`framework.families`), collected
by :mod:`framework.registry`; they reach the ops only through
:meth:`GradBackend.call`, so a backend serves every family without naming one.
"""
from __future__ import annotations

from typing import Any, Protocol, Tuple

from .registry import BPROPS

__all__ = ["GradBackend", "BPROPS"]

T = Any  # a backend tensor


class GradBackend(Protocol):
    """What a binding provides to evaluate the gradient formulas."""

    def call(self, op: str, attrs: Tuple[Tuple[str, Any], ...], *inputs: T) -> T:
        """The op called ``op`` (a declared op type) with the canonical attribute values
        ``attrs`` (``(("reduction", "mean"),)``, as :attr:`framework.rules.Plan.attrs`)
        on ``inputs``, in its input order."""
    def reduce_to(self, t: T, like: T) -> T:
        """Sum ``t`` over the axes that broadcasting added or expanded in ``like``,
        returning ``like``'s shape (and dtype)."""
    def neg_reduce_to(self, t: T, like: T) -> T:
        """``-reduce_to(t, like)`` (a backend may fuse the negation into the same pass)."""
    def zeros_like(self, t: T) -> T: ...
    def scalar_zero(self, like: T) -> T:
        """A rank-0 zero of ``like``'s dtype."""
    def scalar_one(self, like: T) -> T:
        """A rank-0 one of ``like``'s dtype."""
    def pointwise(self, formula: Any, inputs: Tuple[T, ...], params: Tuple[Any, ...] = ()) -> T:
        """``formula(xp, *inputs, *params)``: an elementwise term over the backend's array
        namespace ``xp`` (``where``, ``abs``, ``stop_gradient``, operators) of the tensors ``inputs`` and the
        Python constants ``params``, in the compute type (float32 for half types)."""

"""NumPy dtype <-> canonical dtype-name mapping (bfloat16 through ml_dtypes)."""
from __future__ import annotations

from typing import Any, Dict

import ml_dtypes
import numpy as np

from .definitions import DTYPES

__all__ = ["bfloat16", "NP_DTYPES", "dtype_name", "np_dtype", "attribute_cache_key"]

bfloat16 = np.dtype(ml_dtypes.bfloat16)

#: canonical name -> NumPy dtype
NP_DTYPES: Dict[str, np.dtype] = {
    "float16": np.dtype(np.float16),
    "bfloat16": bfloat16,
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
}
assert tuple(NP_DTYPES) == DTYPES


def dtype_name(dtype: Any) -> str:
    """Canonical name of a NumPy dtype (unsupported dtypes keep NumPy's own name,
    so that validation can name them in its error)."""
    dt = np.dtype(dtype)
    if dt == bfloat16:
        return "bfloat16"
    return dt.name


def np_dtype(name: str) -> np.dtype:
    """NumPy dtype of a canonical name."""
    return NP_DTYPES[name]


def attribute_cache_key(value: Any) -> Any:
    """An attribute value as a key of the call caches (framework.cpu, ms_ops.primitives): with its type (``True == 1 == 1.0`` as keys, but validation tells
    them apart) and a float by its bits (``-0.0 == 0.0``; NaN never equals itself, so it never hits).
    TypeError for a value of any other type (then the call is not cached: validation alone judges it)."""
    kind = type(value)
    if kind in (float, np.float16, np.float32, np.float64):
        return (kind, float(value).hex())
    if kind in (str, int, bool, np.str_, np.bool_) or isinstance(value, np.integer):
        return (kind, value)
    raise TypeError(f"not a cacheable attribute value: {kind.__name__}")

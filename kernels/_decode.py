"""Raw values decoded inside kernels: CF packing (``scale_factor``/``add_offset``) and
missing values (``_FillValue``/``missing_value``, NaN), in float64, one value at a time.

Kernels that read raw chunks (int16 packed, fill-valued float32) take a
``decode`` vector ``[scale, offset, missing_1, missing_2]`` (:func:`decode_vector`)
and call :func:`decoded` per value, so no decoded copy of the chunk is ever made.
"""

import numpy as np

from ._jit import njit_cached

__all__ = ["RAW_DTYPES", "decode_vector", "decoded"]

#: dtypes a raw chunk may have
RAW_DTYPES = tuple(np.dtype(t) for t in ("f4", "f8", "i1", "i2", "i4", "u1", "u2"))


@njit_cached
def decoded(r, scale, offset, miss1, miss2, shift):
    """One raw value → (valid 0/1, v - shift or 0, v or 0, v or +inf, v or -inf)."""
    r = np.float64(r)
    ok = (r == r) & (r != miss1) & (r != miss2)
    v = r * scale + offset
    if ok:
        return 1.0, v - shift, v, v, v
    return 0.0, 0.0, 0.0, np.inf, -np.inf


def decode_vector(decode):
    """``(scale, offset, missing_values)`` or None → float64 [scale, offset, m1, m2]."""
    scale, offset, missing = decode if decode is not None else (1.0, 0.0, ())
    missing = [float(m) for m in missing]
    if len(missing) > 2:
        raise ValueError(f"at most two missing values are supported, got {missing}")
    missing += [np.nan] * (2 - len(missing))
    return np.array([float(scale), float(offset)] + missing)

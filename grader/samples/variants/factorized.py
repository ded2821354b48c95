"""Correct variants for notebook 06 (factorised tables, SVD, 8-bit quantisation), at least two per exercise."""

from __future__ import annotations

from grader.samples.variants import Variant, maker

_v = maker("06_factorized_embeddings")

VARIANTS: list[Variant] = [
    # ---------------------------------------------------------------- quantize_rows
    _v("quantize_float32_round", "quantize_rows",
       "the formula as printed, q = round((E − offset) / scale), with the float32 scale and offset it returns "
       "(no float64 is asked for)", '''
def quantize_rows(E):
    E = np.asarray(E)
    if E.ndim != 2 or E.dtype.kind != "f":
        raise ValueError(f"E must be a 2-D float array, got {E.dtype} {E.shape}")
    offset = E.min(axis=1).astype(np.float32)
    scale = ((E.max(axis=1) - E.min(axis=1)) / 255).astype(np.float32)
    q = np.zeros(E.shape, dtype=np.uint8)
    nonconstant = scale > 0
    q[nonconstant] = np.round((E[nonconstant] - offset[nonconstant, None]) / scale[nonconstant, None]).astype(np.uint8)
    return q, scale, offset
'''),
]

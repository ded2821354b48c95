"""Correct variants for notebook 04 (positions: learned, sinusoidal, RoPE), at least two per exercise."""

from __future__ import annotations

from grader.samples.variants import Variant, maker

_v = maker("04_positions_rope")

VARIANTS: list[Variant] = [
    # ---------------------------------------------------------------- sinusoidal_positions
    _v("sinusoid_d2l_float32", "sinusoidal_positions",
       "d2l.ai's PositionalEncoding: float32 throughout, pos / base^(2i/d) by division (the text asks for a float32 "
       "table, never for float64 arithmetic)", '''
def sinusoidal_positions(num_positions, d_model, base=10000.0):
    if d_model % 2 != 0:
        raise ValueError(f"d_model must be even, got {d_model}")
    P = torch.zeros((num_positions, d_model))
    X = torch.arange(num_positions, dtype=torch.float32).reshape(-1, 1) / torch.pow(
        base, torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
    P[:, 0::2] = torch.sin(X)
    P[:, 1::2] = torch.cos(X)
    return P
'''),
    _v("sinusoid_annotated_exp", "sinusoidal_positions",
       "the Annotated Transformer's div_term = exp(2i · (−ln base / d)), int64 positions times float32 frequencies", '''
import math


def sinusoidal_positions(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError("d_model must be even")
    pe = torch.zeros(num_positions, d_model)
    position = torch.arange(0, num_positions).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2) * -(math.log(base) / d_model))
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe
'''),
    _v("sinusoid_numpy_float32", "sinusoidal_positions",
       "numpy in float32, converted with torch.from_numpy at the end", '''
def sinusoidal_positions(num_positions, d_model, base=10000.0):
    if d_model % 2 == 1:
        raise ValueError(f"odd d_model = {d_model}: sin and cos need pairs of columns")
    pos = np.arange(num_positions, dtype=np.float32)[:, None]
    i = np.arange(d_model // 2, dtype=np.float32)
    angles = pos / np.float32(base) ** (2 * i / np.float32(d_model))
    table = np.empty((num_positions, d_model), dtype=np.float32)
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles)
    return torch.from_numpy(table)
'''),
    _v("sinusoid_loops", "sinusoidal_positions", "two Python loops with math.sin / math.cos, the formula as written", '''
import math


def sinusoidal_positions(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError(f"d_model {d_model} is odd")
    pe = torch.zeros(num_positions, d_model)
    for pos in range(num_positions):
        for i in range(d_model // 2):
            angle = pos / base ** (2 * i / d_model)
            pe[pos, 2 * i] = math.sin(angle)
            pe[pos, 2 * i + 1] = math.cos(angle)
    return pe
'''),
]

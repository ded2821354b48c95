"""Reference for notebook 04: positions — a learned table, sinusoids, and rotations (RoPE).

* Learned: a second lookup table, one row per position 0 … max_positions − 1, added to the token vectors.
* Sinusoidal (Vaswani et al. 2017, §3.5): PE[pos, 2i] = sin(pos / base^{2i/d}), PE[pos, 2i+1] = cos(same).
* RoPE (Su et al., RoFormer): rotate each pair of query/key dimensions by the angle m·θ_i at position m,
  θ_i = base^{−2i/d}. Two layouts pair the dimensions differently and are both valid:
  adjacent-pair (RoFormer paper, Meta's LLaMA, GPT-J): (x_{2i}, x_{2i+1});
  half-split (GPT-NeoX, Hugging Face): (x_i, x_{i+d/2}).
  They differ by the fixed permutation P = [0, 2, 4, …, 1, 3, 5, …]: half(P·x) = P·adjacent(x).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LAYOUTS", "LearnedPositions", "apply_rope", "rope_angles", "rope_matrix", "sinusoidal_positions"]

LAYOUTS = ("adjacent", "half")


def _check_even(head_dim: int, what: str) -> None:
    if head_dim <= 0 or head_dim % 2:
        raise ValueError(f"{what} must be a positive even number (dimensions come in pairs), got {head_dim}")


class LearnedPositions(nn.Module):
    """x (…, T, d) -> x + weight[positions]; weight: Parameter (max_positions, d).

    positions defaults to 0 … T−1. A position ≥ max_positions has no row: IndexError naming it.
    """

    def __init__(self, max_positions: int, d_model: int) -> None:
        super().__init__()
        self.max_positions = max_positions
        self.weight = nn.Parameter(torch.randn(max_positions, d_model) * 0.02)

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        T = x.shape[-2]
        if positions is None:
            positions = torch.arange(T)
        if positions.numel() and (int(positions.max()) >= self.max_positions or int(positions.min()) < 0):
            bad = int(positions.max()) if int(positions.max()) >= self.max_positions else int(positions.min())
            raise IndexError(f"position {bad} has no learned row: this table covers positions 0 to "
                             f"{self.max_positions - 1} (max_positions = {self.max_positions})")
        return x + self.weight[positions]


def sinusoidal_positions(num_positions: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """(T, d) float32: column 2i is sin(pos / base^{2i/d}), column 2i+1 is cos(pos / base^{2i/d})."""
    _check_even(d_model, "d_model")
    out = torch.empty(num_positions, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        angle = torch.arange(num_positions, dtype=torch.float64) / base ** (2 * i / d_model)
        out[:, 2 * i] = torch.sin(angle)
        out[:, 2 * i + 1] = torch.cos(angle)
    return out.float()


def rope_angles(positions: torch.Tensor, head_dim: int, base: float = 10000.0) -> torch.Tensor:
    """positions (…,) -> angles (…, head_dim/2) float32: angle[…, i] = position · base^{−2i/head_dim}."""
    _check_even(head_dim, "head_dim")
    theta = torch.tensor([base ** (-2 * i / head_dim) for i in range(head_dim // 2)], dtype=torch.float64)
    return (torch.as_tensor(positions, dtype=torch.float64)[..., None] * theta).float()


def rope_matrix(position: int, head_dim: int, base: float = 10000.0) -> torch.Tensor:
    """The (head_dim, head_dim) rotation R_m of RoPE at position m, adjacent-pair layout: block-diagonal, block i
    = [[cos mθ_i, −sin mθ_i], [sin mθ_i, cos mθ_i]] on dimensions (2i, 2i+1)."""
    _check_even(head_dim, "head_dim")
    R = torch.zeros(head_dim, head_dim, dtype=torch.float64)
    for i in range(head_dim // 2):
        a = position * base ** (-2 * i / head_dim)
        c, s = torch.cos(torch.tensor(a, dtype=torch.float64)), torch.sin(torch.tensor(a, dtype=torch.float64))
        R[2 * i, 2 * i], R[2 * i, 2 * i + 1] = c, -s
        R[2 * i + 1, 2 * i], R[2 * i + 1, 2 * i + 1] = s, c
    return R.float()


def apply_rope(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0, layout: str = "adjacent"
               ) -> torch.Tensor:
    """x (…, T, head_dim), positions (T,) -> same shape: each pair of dimensions rotated by position · θ_i.

    layout "adjacent" pairs (x_{2i}, x_{2i+1}); "half" pairs (x_i, x_{i + head_dim/2}).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    d = x.shape[-1]
    _check_even(d, "head_dim (the last dimension of x)")
    theta = torch.tensor([base ** (-2 * i / d) for i in range(d // 2)], dtype=torch.float64)
    angles = torch.as_tensor(positions, dtype=torch.float64)[..., None] * theta   # (T, d/2), in float64
    cos, sin = torch.cos(angles), torch.sin(angles)
    xd = x.to(torch.float64)
    if layout == "adjacent":
        first, second = xd[..., 0::2], xd[..., 1::2]
    else:
        first, second = xd[..., : d // 2], xd[..., d // 2:]
    rot_first, rot_second = first * cos - second * sin, first * sin + second * cos
    out = torch.empty_like(xd)
    if layout == "adjacent":
        out[..., 0::2], out[..., 1::2] = rot_first, rot_second
    else:
        out[..., : d // 2], out[..., d // 2:] = rot_first, rot_second
    return out.to(x.dtype)

"""Mistakes for notebook 04 (positions: learned, sinusoidal, RoPE), at least four per exercise."""

from __future__ import annotations

from grader.samples.mutants import Mutant, maker

_m = maker("04_positions_rope")


def _learned(forward: str, init: str = "self.weight = nn.Parameter(torch.randn(max_positions, d_model) * 0.02)") -> str:
    return f'''
class LearnedPositions(nn.Module):
    def __init__(self, max_positions, d_model):
        super().__init__()
        self.max_positions = max_positions
        {init}

    def forward(self, x, positions=None):
{forward}
'''


def _rope(body: str) -> str:
    return '''
def apply_rope(x, positions, base=10000.0, layout="adjacent"):
    if layout not in ("adjacent", "half"):
        raise ValueError(f"layout must be 'adjacent' or 'half', got {layout!r}")
    d = x.shape[-1]
    if d % 2:
        raise ValueError(f"head_dim must be even, got {d}")
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angles = torch.as_tensor(positions, dtype=torch.float64)[:, None] * theta
    cos, sin = torch.cos(angles), torch.sin(angles)
    x64 = x.double()
''' + body


MUTANTS: list[Mutant] = [
    # ---------------------------------------------------------------- LearnedPositions
    _m("learned_plain_tensor", "learned_positions", "stores the table as a plain tensor: never trained", _learned('''
        return x + self.weight[torch.arange(x.shape[-2]) if positions is None else positions]''',
       "self.weight = torch.randn(max_positions, d_model) * 0.02"),
       ("learned_positions_visible", "learned_positions_hidden")),
    _m("learned_ignores_positions", "learned_positions", "always adds rows 0 … T−1, ignoring the positions argument",
       _learned('''
        T = x.shape[-2]
        if T > self.max_positions:
            raise IndexError(f"position {T - 1} has no row: max_positions = {self.max_positions}")
        return x + self.weight[:T]''')),
    _m("learned_slices", "learned_positions", "adds weight[:T]: past the table the slice is short and broadcasting fails with a RuntimeError",
       _learned('''
        if positions is not None:
            return x + self.weight[positions]
        return x + self.weight[: x.shape[-2]]'''),
       ("learned_positions_visible", "learned_positions_hidden")),
    _m("learned_no_validation", "learned_positions", "indexes without validation: position -1 wraps to the last row", _learned('''
        if positions is None:
            positions = torch.arange(x.shape[-2])
        return x + self.weight[positions]''')),
    _m("learned_concatenates", "learned_positions", "concatenates the position vector instead of adding it", _learned('''
        if positions is None:
            positions = torch.arange(x.shape[-2])
        if positions.max() >= self.max_positions or positions.min() < 0:
            raise IndexError(f"position out of range for max_positions = {self.max_positions}")
        return torch.cat([x, self.weight[positions].expand_as(x)], dim=-1)'''),
       ("learned_positions_visible", "learned_positions_hidden")),
    # ---------------------------------------------------------------- sinusoidal_positions
    _m("sinusoid_concatenated", "sinusoidal_positions", "concatenates [sin | cos] (tensor2tensor's layout) instead of interleaving", '''
def sinusoidal_positions(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError(f"d_model must be even, got {d_model}")
    pos = torch.arange(num_positions, dtype=torch.float64)[:, None]
    freq = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    return torch.cat([torch.sin(pos * freq), torch.cos(pos * freq)], dim=1).float()
''', ("sinusoidal_positions_visible", "sinusoidal_positions_hidden")),
    _m("sinusoid_exponent_i", "sinusoidal_positions", "uses base^(i/d) instead of base^(2i/d)", '''
def sinusoidal_positions(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError(f"d_model must be even, got {d_model}")
    pos = torch.arange(num_positions, dtype=torch.float64)[:, None]
    freq = base ** (-torch.arange(d_model // 2, dtype=torch.float64) / d_model)
    table = torch.empty(num_positions, d_model, dtype=torch.float64)
    table[:, 0::2], table[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return table.float()
''', ("sinusoidal_positions_visible", "sinusoidal_positions_hidden")),
    _m("sinusoid_swapped", "sinusoidal_positions", "puts cos on even and sin on odd columns", '''
def sinusoidal_positions(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError(f"d_model must be even, got {d_model}")
    pos = torch.arange(num_positions, dtype=torch.float64)[:, None]
    freq = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    table = torch.empty(num_positions, d_model, dtype=torch.float64)
    table[:, 0::2], table[:, 1::2] = torch.cos(pos * freq), torch.sin(pos * freq)
    return table.float()
''', ("sinusoidal_positions_visible", "sinusoidal_positions_hidden")),
    _m("sinusoid_one_based", "sinusoidal_positions", "counts positions from 1", '''
def sinusoidal_positions(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError(f"d_model must be even, got {d_model}")
    pos = torch.arange(1, num_positions + 1, dtype=torch.float64)[:, None]
    freq = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    table = torch.empty(num_positions, d_model, dtype=torch.float64)
    table[:, 0::2], table[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return table.float()
''', ("sinusoidal_positions_visible", "sinusoidal_positions_hidden")),
    _m("sinusoid_ignores_base", "sinusoidal_positions", "hard-codes 10000 and ignores base", '''
def sinusoidal_positions(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError(f"d_model must be even, got {d_model}")
    pos = torch.arange(num_positions, dtype=torch.float64)[:, None]
    freq = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    table = torch.empty(num_positions, d_model, dtype=torch.float64)
    table[:, 0::2], table[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return table.float()
'''),
    # ---------------------------------------------------------------- rope_angles
    _m("angles_missing_two", "rope_angles", "θ_i = base^(−i/d): forgets the 2 in the exponent", '''
def rope_angles(positions, head_dim, base=10000.0):
    if head_dim % 2:
        raise ValueError(f"head_dim must be even, got {head_dim}")
    theta = base ** (-torch.arange(head_dim // 2, dtype=torch.float64) / head_dim)
    return (torch.as_tensor(positions, dtype=torch.float64)[..., None] * theta).float()
''', ("rope_angles_visible", "rope_angles_hidden")),
    _m("angles_one_based", "rope_angles", "reads the paper's i = 1 … d/2 but writes base^(−2i/d): every frequency one step too low", '''
def rope_angles(positions, head_dim, base=10000.0):
    if head_dim % 2:
        raise ValueError(f"head_dim must be even, got {head_dim}")
    theta = base ** (-2 * torch.arange(1, head_dim // 2 + 1, dtype=torch.float64) / head_dim)
    return (torch.as_tensor(positions, dtype=torch.float64)[..., None] * theta).float()
''', ("rope_angles_visible", "rope_angles_hidden")),
    _m("angles_repeated", "rope_angles", "returns cat(freqs, freqs) of width head_dim, as HF's cos/sin cache", '''
def rope_angles(positions, head_dim, base=10000.0):
    if head_dim % 2:
        raise ValueError(f"head_dim must be even, got {head_dim}")
    theta = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    freqs = torch.as_tensor(positions, dtype=torch.float64)[..., None] * theta
    return torch.cat([freqs, freqs], dim=-1).float()
''', ("rope_angles_visible", "rope_angles_hidden")),
    _m("angles_ignore_base", "rope_angles", "hard-codes 10000 and ignores base", '''
def rope_angles(positions, head_dim, base=10000.0):
    if head_dim % 2:
        raise ValueError(f"head_dim must be even, got {head_dim}")
    theta = 10000.0 ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    return (torch.as_tensor(positions, dtype=torch.float64)[..., None] * theta).float()
'''),
    _m("angles_flat_positions", "rope_angles", "flattens the positions: 2-D positions lose their shape", '''
def rope_angles(positions, head_dim, base=10000.0):
    if head_dim % 2:
        raise ValueError(f"head_dim must be even, got {head_dim}")
    theta = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    return (torch.as_tensor(positions, dtype=torch.float64).reshape(-1, 1) * theta).float()
'''),
    # ---------------------------------------------------------------- rope_matrix
    _m("matrix_clockwise", "rope_matrix", "puts −sin below the diagonal: rotates by −mθ", '''
def rope_matrix(position, head_dim, base=10000.0):
    angles = rope_angles(torch.tensor(position), head_dim, base).double()
    R = torch.zeros(head_dim, head_dim, dtype=torch.float64)
    for i, a in enumerate(angles):
        R[2 * i, 2 * i], R[2 * i, 2 * i + 1] = torch.cos(a), torch.sin(a)
        R[2 * i + 1, 2 * i], R[2 * i + 1, 2 * i + 1] = -torch.sin(a), torch.cos(a)
    return R.float()
''', ("rope_matrix_visible", "rope_matrix_hidden")),
    _m("matrix_half_split", "rope_matrix", "builds the half-split pairing (i, i + d/2), not the adjacent-pair definition", '''
def rope_matrix(position, head_dim, base=10000.0):
    angles = rope_angles(torch.tensor(position), head_dim, base).double()
    R = torch.zeros(head_dim, head_dim, dtype=torch.float64)
    h = head_dim // 2
    for i, a in enumerate(angles):
        R[i, i], R[i, i + h] = torch.cos(a), -torch.sin(a)
        R[i + h, i], R[i + h, i + h] = torch.sin(a), torch.cos(a)
    return R.float()
''', ("rope_matrix_visible", "rope_matrix_hidden")),
    _m("matrix_no_position", "rope_matrix", "rotates by θ_i instead of m·θ_i", '''
def rope_matrix(position, head_dim, base=10000.0):
    angles = rope_angles(torch.tensor(1), head_dim, base).double()
    R = torch.zeros(head_dim, head_dim, dtype=torch.float64)
    for i, a in enumerate(angles):
        R[2 * i, 2 * i], R[2 * i, 2 * i + 1] = torch.cos(a), -torch.sin(a)
        R[2 * i + 1, 2 * i], R[2 * i + 1, 2 * i + 1] = torch.sin(a), torch.cos(a)
    return R.float()
''', ("rope_matrix_visible", "rope_matrix_hidden")),
    _m("matrix_float32_angles", "rope_matrix", "takes cos and sin of float32 angles with one shared frequency", '''
def rope_matrix(position, head_dim, base=10000.0):
    a = torch.tensor(float(position))
    R = torch.zeros(head_dim, head_dim)
    for i in range(head_dim // 2):
        R[2 * i, 2 * i], R[2 * i, 2 * i + 1] = torch.cos(a), -torch.sin(a)
        R[2 * i + 1, 2 * i], R[2 * i + 1, 2 * i + 1] = torch.sin(a), torch.cos(a)
    return R
''', ("rope_matrix_visible", "rope_matrix_hidden")),
    # ---------------------------------------------------------------- apply_rope
    _m("rope_mixed_layout", "apply_rope", "cos/sin repeat_interleave'd for adjacent pairs but rotated with rotate_half: the classic layout bug", _rope('''
    cos2, sin2 = cos.repeat_interleave(2, dim=-1), sin.repeat_interleave(2, dim=-1)
    rotated = torch.cat([-x64[..., d // 2:], x64[..., : d // 2]], dim=-1)
    return (x64 * cos2 + rotated * sin2).to(x.dtype)
'''), ("apply_rope_visible", "apply_rope_hidden")),
    _m("rope_wrong_sign", "apply_rope", "rotates the other way: a·cos + b·sin, −a·sin + b·cos", _rope('''
    a, b = (x64[..., 0::2], x64[..., 1::2]) if layout == "adjacent" else (x64[..., : d // 2], x64[..., d // 2:])
    ra, rb = a * cos + b * sin, -a * sin + b * cos
    out = torch.stack([ra, rb], -1).flatten(-2) if layout == "adjacent" else torch.cat([ra, rb], -1)
    return out.to(x.dtype)
'''), ("apply_rope_visible", "apply_rope_hidden")),
    _m("rope_ignores_layout", "apply_rope", "always pairs adjacent dimensions, whatever the layout", _rope('''
    a, b = x64[..., 0::2], x64[..., 1::2]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], -1).flatten(-2).to(x.dtype)
'''), ("apply_rope_visible", "apply_rope_hidden")),
    _m("rope_ignores_positions", "apply_rope", "rotates by arange(T), ignoring the positions given", '''
def apply_rope(x, positions, base=10000.0, layout="adjacent"):
    if layout not in ("adjacent", "half"):
        raise ValueError(f"layout must be 'adjacent' or 'half', got {layout!r}")
    d = x.shape[-1]
    if d % 2:
        raise ValueError(f"head_dim must be even, got {d}")
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angles = torch.arange(x.shape[-2], dtype=torch.float64)[:, None] * theta
    cos, sin = torch.cos(angles), torch.sin(angles)
    x64 = x.double()
    a, b = (x64[..., 0::2], x64[..., 1::2]) if layout == "adjacent" else (x64[..., : d // 2], x64[..., d // 2:])
    ra, rb = a * cos - b * sin, a * sin + b * cos
    out = torch.stack([ra, rb], -1).flatten(-2) if layout == "adjacent" else torch.cat([ra, rb], -1)
    return out.to(x.dtype)
''', ("apply_rope_visible", "apply_rope_hidden")),
    _m("rope_float64_out", "apply_rope", "returns the float64 working copy instead of x's dtype", _rope('''
    a, b = (x64[..., 0::2], x64[..., 1::2]) if layout == "adjacent" else (x64[..., : d // 2], x64[..., d // 2:])
    ra, rb = a * cos - b * sin, a * sin + b * cos
    return torch.stack([ra, rb], -1).flatten(-2) if layout == "adjacent" else torch.cat([ra, rb], -1)
''')),
    _m("rope_no_checks", "apply_rope", "accepts any layout string and an odd head_dim", '''
def apply_rope(x, positions, base=10000.0, layout="adjacent"):
    d = x.shape[-1]
    theta = base ** (-torch.arange(0, d - d % 2, 2, dtype=torch.float64) / d)
    angles = torch.as_tensor(positions, dtype=torch.float64)[:, None] * theta
    cos, sin = torch.cos(angles), torch.sin(angles)
    x64 = x.double()
    h = d // 2
    a, b = (x64[..., 0:2 * h:2], x64[..., 1:2 * h:2]) if layout != "half" else (x64[..., :h], x64[..., h:2 * h])
    ra, rb = a * cos - b * sin, a * sin + b * cos
    out = x64.clone()
    if layout != "half":
        out[..., 0:2 * h:2], out[..., 1:2 * h:2] = ra, rb
    else:
        out[..., :h], out[..., h:2 * h] = ra, rb
    return out.to(x.dtype)
'''),
]

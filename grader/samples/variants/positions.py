"""Correct variants for notebook 04 (positions: learned, sinusoidal, RoPE), at least two per exercise."""

from __future__ import annotations

from grader.samples.variants import Variant, maker

_v = maker("04_positions_rope")

VARIANTS: list[Variant] = [
    # ---------------------------------------------------------------- LearnedPositions
    _v("learned_normal_init_embedding_style", "learned_positions",
       "nn.init.normal_(std=0.02) on an empty Parameter; the message names the position and max_positions only",
       """
class LearnedPositions(nn.Module):
    def __init__(self, max_positions, d_model):
        super().__init__()
        self.max_positions = max_positions
        self.weight = nn.Parameter(torch.empty(max_positions, d_model))
        nn.init.normal_(self.weight, mean=0.0, std=0.02)

    def forward(self, x, positions=None):
        if positions is None:
            positions = torch.arange(x.size(-2), device=x.device)
        bad = (positions < 0) | (positions >= self.max_positions)
        if bad.any():
            raise IndexError(f"position {positions[bad][0].item()} is outside the table of {self.max_positions} rows")
        return x + F.embedding(positions, self.weight)
"""),
    _v("learned_slice_when_default", "learned_positions",
       "the default positions as a slice weight[:T] after checking T against the table (message names T and size)",
       """
class LearnedPositions(nn.Module):
    def __init__(self, max_positions, d_model):
        super().__init__()
        self.weight = nn.Parameter(0.02 * torch.randn(max_positions, d_model))

    def forward(self, x, positions=None):
        n = self.weight.shape[0]
        if positions is None:
            T = x.shape[-2]
            if T > n:
                raise IndexError(f"a sequence of {T} tokens needs position {T - 1}, the table has {n}")
            return x + self.weight[:T]
        if positions.numel() and (int(positions.min()) < 0 or int(positions.max()) >= n):
            raise IndexError(f"positions {positions.tolist()} must lie in [0, {n})")
        return x + self.weight[positions]
"""),
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
    # ---------------------------------------------------------------- rope_angles
    _v("angles_outer", "rope_angles", "torch.outer-free: float64 theta via 1 / base ** (arange / d), then [..., None]", """
def rope_angles(positions, head_dim, base=10000.0):
    if head_dim % 2:
        raise ValueError("head_dim must be even")
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2).double() / head_dim))
    return (torch.as_tensor(positions).double().unsqueeze(-1) * inv_freq).to(torch.float32)
"""),
    _v("angles_numpy", "rope_angles", "numpy float64 with np.multiply.outer, reshaped and converted to torch", """
def rope_angles(positions, head_dim, base=10000.0):
    if head_dim % 2 != 0:
        raise ValueError(f"odd head_dim {head_dim}")
    pos = np.asarray(positions, dtype=np.float64)
    theta = np.power(float(base), -2.0 * np.arange(head_dim // 2) / head_dim)
    return torch.from_numpy(np.multiply.outer(pos, theta).astype(np.float32))
"""),
    # ---------------------------------------------------------------- rope_matrix
    _v("matrix_block_diag", "rope_matrix", "torch.block_diag of 2×2 rotations from its float32 rope_angles", """
def rope_matrix(position, head_dim, base=10000.0):
    angles = rope_angles(torch.tensor([position]), head_dim, base)[0]
    blocks = [torch.stack([torch.stack([a.cos(), -a.sin()]), torch.stack([a.sin(), a.cos()])]) for a in angles]
    return torch.block_diag(*blocks)
"""),
    _v("matrix_float64_direct", "rope_matrix",
       "angles straight in float64 (position · θ without rope_angles' float32 rounding), diagonal filled by slicing",
       """
def rope_matrix(position, head_dim, base=10000.0):
    if head_dim % 2:
        raise ValueError(f"head_dim {head_dim} is odd")
    theta = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    a = position * theta
    R = torch.zeros(head_dim, head_dim, dtype=torch.float64)
    idx = torch.arange(0, head_dim, 2)
    R[idx, idx], R[idx, idx + 1] = a.cos(), -a.sin()
    R[idx + 1, idx], R[idx + 1, idx + 1] = a.sin(), a.cos()
    return R.float()
"""),
    # ---------------------------------------------------------------- apply_rope
    _v("rope_complex", "apply_rope",
       "Meta's LLaMA reference: adjacent pairs as complex numbers times torch.polar; half layout by permuting in",
       """
def apply_rope(x, positions, base=10000.0, layout="adjacent"):
    if layout not in {"adjacent", "half"}:
        raise ValueError(f"unknown layout {layout!r}")
    d = x.shape[-1]
    if d % 2:
        raise ValueError(f"head_dim {d} is odd")
    theta = 1.0 / base ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    freqs = torch.polar(torch.ones(len(positions), d // 2, dtype=torch.float64),
                        torch.as_tensor(positions, dtype=torch.float64)[:, None] * theta)
    x64 = x.double()
    if layout == "half":
        x64 = torch.stack([x64[..., : d // 2], x64[..., d // 2:]], dim=-1).flatten(-2)
    z = torch.view_as_complex(x64.reshape(*x64.shape[:-1], d // 2, 2).contiguous()) * freqs
    out = torch.view_as_real(z).flatten(-2)
    if layout == "half":
        out = torch.cat([out[..., 0::2], out[..., 1::2]], dim=-1)
    return out.to(x.dtype)
"""),
    _v("rope_rotate_half", "apply_rope",
       "Hugging Face's rotate_half with cos/sin repeated as cat(freqs, freqs) for 'half' and repeat_interleave for "
       "'adjacent', each with its own rotation", """
def apply_rope(x, positions, base=10000.0, layout="adjacent"):
    d = x.shape[-1]
    if d % 2 == 1:
        raise ValueError("head_dim must be even")
    if layout == "half":
        pass
    elif layout != "adjacent":
        raise ValueError(f"layout {layout} is neither 'adjacent' nor 'half'")
    inv_freq = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    freqs = torch.as_tensor(positions, dtype=torch.float64)[:, None] * inv_freq
    x64 = x.to(torch.float64)
    if layout == "half":
        emb = torch.cat([freqs, freqs], dim=-1)
        rotated = torch.cat([-x64[..., d // 2:], x64[..., : d // 2]], dim=-1)
    else:
        emb = freqs.repeat_interleave(2, dim=-1)
        rotated = torch.stack([-x64[..., 1::2], x64[..., 0::2]], dim=-1).flatten(-2)
    return (x64 * emb.cos() + rotated * emb.sin()).to(x.dtype)
"""),
]

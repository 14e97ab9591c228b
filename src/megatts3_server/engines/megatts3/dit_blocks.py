"""Building blocks of the MegaTTS3 diffusion transformer: time embedding, RoPE, AdaLN-Zero blocks.

Parameter names follow the official checkpoint (``encoder.layers.N.attention.wq`` …), so the official
``dit`` state_dict loads into ``DiT`` unchanged. Numerically sensitive pieces (LayerNorm, rotary angles, the
time sinusoid) are computed in fp32 whatever dtype the weights are in, as the reference gets from autocast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from megatts3_server.engines.megatts3.fp32_norm import layer_norm_fp32
from megatts3_server.engines.megatts3.rel_transformer import sinusoidal_positions

# The reference scales the flow time t ∈ [0, 1] by 1000 before the sinusoid (F5-TTS convention).
_TIME_SCALE = 1000.0
_ROPE_THETA = 10000.0
_NORM_EPS = 1e-6


def rope_tables(length: int, head_dim: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """fp32 ``(cos, sin)`` tables ``[length, head_dim/2]`` for interleaved-pair rotary embedding."""
    inv_freq = 1.0 / (_ROPE_THETA ** (torch.arange(0, head_dim, 2, device=device)[: head_dim // 2].float() / head_dim))
    angles = torch.outer(torch.arange(length, device=device, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate the pairs ``(2i, 2i+1)`` of ``x`` ``[B, T, H, D]`` by the position angles, in fp32."""
    pairs = x.float().unflatten(-1, (-1, 2))
    even, odd = pairs[..., 0], pairs[..., 1]
    cos, sin = cos[None, :, None, :], sin[None, :, None, :]
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return rotated.flatten(-2).to(x.dtype)


def _norm(x: Tensor) -> Tensor:
    # LayerNorm without affine parameters; statistics in fp32 (autocast does the same in the reference).
    return layer_norm_fp32(x, (x.shape[-1],), eps=_NORM_EPS)


class TimestepEmbedding(nn.Module):
    """Flow time ``t`` ``[N]`` → ``[N, dim]``: sinusoid of 1000·t, then Linear → SiLU → Linear."""

    def __init__(self, dim: int, freq_dim: int) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.time_mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        """Embed a vector of flow times."""
        hidden = sinusoidal_positions(_TIME_SCALE * t.float(), self.freq_dim)
        return self.time_mlp(hidden.to(self.time_mlp[0].weight.dtype))


class AdaLNZero(nn.Module):
    """The block's modulation: six chunks (shift/scale/gate for attention, then for the MLP) from SiLU(t)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim * 6)

    def forward(self, t: Tensor) -> tuple[Tensor, ...]:
        """``t`` ``[N, dim]`` → six ``[N, 1, dim]`` tensors (broadcast over the sequence)."""
        return tuple(c.unsqueeze(1) for c in self.linear(F.silu(t)).chunk(6, dim=-1))


class AdaLNZeroOut(nn.Module):
    """The final modulation: two chunks in the order scale, shift."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim * 2)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """Modulated LayerNorm of ``x`` ``[N, T, dim]``."""
        scale, shift = (c.unsqueeze(1) for c in self.linear(F.silu(t)).chunk(2, dim=-1))
        return (_norm(x) * (1 + scale) + shift).to(x.dtype)


class Attention(nn.Module):
    """Non-causal multi-head self-attention with biased projections and RoPE on q and k."""

    def __init__(self, dim: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.wq = nn.Linear(dim, dim)
        self.wk = nn.Linear(dim, dim)
        self.wv = nn.Linear(dim, dim)
        self.wo = nn.Linear(dim, dim)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor], key_mask: Tensor) -> Tensor:
        """``x`` ``[B, T, dim]``; ``key_mask`` ``[B, T]`` bool, False for padding that no query may see."""
        q, k, v = (proj(x).unflatten(-1, (self.n_heads, -1)) for proj in (self.wq, self.wk, self.wv))
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=key_mask[:, None, None, :]
        )
        return self.wo(out.transpose(1, 2).flatten(2))


class FeedForward(nn.Module):
    """``w2(SiLU(w1(x)))`` — a plain SiLU MLP (no gating despite the LLaMA-style names)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, hidden)
        self.w2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the MLP position-wise."""
        return self.w2(F.silu(self.w1(x)))


class TransformerBlock(nn.Module):
    """AdaLN-Zero pre-norm block: gated attention then gated MLP, each modulated by the time embedding."""

    def __init__(self, dim: int, n_heads: int, ffn_hidden: int) -> None:
        super().__init__()
        self.attention = Attention(dim, n_heads)
        self.feed_forward = FeedForward(dim, ffn_hidden)
        self.attention_norm = AdaLNZero(dim)

    def forward(self, x: Tensor, t: Tensor, rope: tuple[Tensor, Tensor], key_mask: Tensor) -> Tensor:
        """One block over ``x`` ``[B, T, dim]`` with time embedding ``t`` ``[1 or B, dim]``."""
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.attention_norm(t)
        h = (_norm(x) * (1 + scale_msa) + shift_msa).to(x.dtype)
        x = x + gate_msa * self.attention(h, rope, key_mask)
        h = (_norm(x) * (1 + scale_mlp) + shift_mlp).to(x.dtype)
        return x + gate_mlp * self.feed_forward(h)


class Transformer(nn.Module):
    """The DiT trunk: ``layers``, the final AdaLN ``norm`` and ``out_proj``."""

    def __init__(self, n_layers: int, dim: int, n_heads: int, ffn_hidden: int) -> None:
        super().__init__()
        self.head_dim = dim // n_heads
        self.layers = nn.ModuleList(TransformerBlock(dim, n_heads, ffn_hidden) for _ in range(n_layers))
        self.norm = AdaLNZeroOut(dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, t: Tensor, rope: tuple[Tensor, Tensor], key_mask: Tensor) -> Tensor:
        """Run every block, then the output modulation and projection."""
        for layer in self.layers:
            x = layer(x, t, rope, key_mask)
        return self.out_proj(self.norm(x, t))

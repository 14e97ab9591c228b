"""The phone encoder shared by the duration LM and the DiT: a VITS-style relative-position Transformer.

Usage (the DiT's ``ph_encoder``; parameter names equal the reference's ``RelTransformerEncoder``)::

    encoder = RelTransformerEncoder(n_vocab=302, hidden_channels=1024, filter_channels=2048,
                                    n_heads=4, n_layers=6, kernel_size=3)   # window 4, prenet, pre-LN
    extra = (tone_embed(tones) + sinusoidal_positions(arange(T)[None], 1024)) * (phones > 0)[..., None]
    out = encoder(phones, extra=extra)          # [B, T, 1024], zero at padded phones

``forward(tokens [B, T] long, mask [B, T] bool | None = None, extra [B, T, H] | None = None) -> [B, T, H]``.
Without ``mask`` the valid part of row b is its first ``count(tokens[b] > 0)`` phones, which is how the
reference derives it (so phones must be right-padded with id 0). ``extra`` is added to the scaled phone
embedding before the prenet; the caller owns the tone embedding and multiplies by the non-padding mask,
as both reference callers do. The duration LM builds it with ``n_heads=2, n_layers=4, kernel_size=3``.

Layout inside is channels-first ([B, C, T]) because every projection is a Conv1d in the checkpoint.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from megatts3_server.engines.megatts3.fp32_norm import layer_norm_fp32


def sinusoidal_positions(positions: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding of integer ``positions`` [..., T] → [..., T, dim] in fp32: sines then cosines.

    Frequencies exp(−i·ln(10⁴)/(dim/2 − 1)), i < dim/2, as the reference's parameter-free ``PosEmb``.
    """
    half = dim // 2
    freqs = torch.exp(
        torch.arange(half, device=positions.device, dtype=torch.float32) * -(math.log(10000) / (half - 1))
    )
    angles = positions.to(torch.float32)[..., None] * freqs
    return torch.cat((angles.sin(), angles.cos()), dim=-1)


def prefix_mask(tokens: Tensor) -> Tensor:
    """[B, T] bool: True on the first ``count(tokens > 0)`` positions of each row (the reference's mask)."""
    lengths = (tokens > 0).sum(-1)
    return torch.arange(tokens.shape[-1], device=tokens.device)[None] < lengths[:, None]


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of [B, C, T], eps 1e-4, computed in fp32 (the reference's ``gamma``/``beta``)."""

    def __init__(self, channels: int, eps: float = 1e-4) -> None:
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        y = layer_norm_fp32(x.transpose(1, 2), (x.shape[1],), self.gamma, self.beta, self.eps)
        return y.transpose(1, 2).to(x.dtype)


class ConvReluNormPrenet(nn.Module):
    """Three (conv k5 → channel LayerNorm → ReLU) layers plus a residual 1×1 projection."""

    def __init__(self, channels: int, kernel_size: int = 5, n_layers: int = 3) -> None:
        super().__init__()
        self.conv_layers = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2) for _ in range(n_layers)
        )
        self.norm_layers = nn.ModuleList(ChannelLayerNorm(channels) for _ in range(n_layers))
        self.proj = nn.Conv1d(channels, channels, 1)

    def forward(self, x: Tensor, x_mask: Tensor) -> Tensor:
        h = x
        for conv, norm in zip(self.conv_layers, self.norm_layers, strict=True):
            h = torch.relu(norm(conv(h * x_mask)))
        return (x + self.proj(h)) * x_mask


class RelativeSelfAttention(nn.Module):
    """Multi-head self-attention with learned relative-position keys and values within ±``window_size``.

    Offsets beyond the window contribute nothing (the reference zero-pads its tables). Probabilities are
    needed for the relative-value term, so the attention is computed explicitly rather than with SDPA.
    """

    def __init__(self, channels: int, n_heads: int, window_size: int) -> None:
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"channels {channels} not divisible by {n_heads} heads")
        self.n_heads = n_heads
        self.head_dim = channels // n_heads
        self.window_size = window_size
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, channels, 1)
        # heads share one table (the reference's heads_share=True): [1, 2w+1, head_dim]
        rel_std = self.head_dim**-0.5
        self.emb_rel_k = nn.Parameter(torch.randn(1, 2 * window_size + 1, self.head_dim) * rel_std)
        self.emb_rel_v = nn.Parameter(torch.randn(1, 2 * window_size + 1, self.head_dim) * rel_std)

    def _heads(self, x: Tensor) -> Tensor:
        b, _, t = x.shape
        return x.view(b, self.n_heads, self.head_dim, t).transpose(2, 3)  # [B, h, T, d]

    def forward(self, x: Tensor, key_bias: Tensor) -> Tensor:
        """``x`` [B, C, T]; ``key_bias`` [B, 1, 1, T] additive fp32 (0 valid, −1e4 padding) → [B, C, T]."""
        b, c, t = x.shape
        q, k, v = self._heads(self.conv_q(x)), self._heads(self.conv_k(x)), self._heads(self.conv_v(x))
        w = self.window_size
        # offset index of key j for query i, and whether it lies inside the window
        offset = torch.arange(t, device=x.device)[None, :] - torch.arange(t, device=x.device)[:, None] + w
        inside = (offset >= 0) & (offset <= 2 * w)
        offset = offset.clamp(0, 2 * w)

        scale = 1.0 / math.sqrt(self.head_dim)
        scores = torch.matmul(q, k.transpose(-2, -1)).float()
        rel_k = torch.matmul(q, self.emb_rel_k[0].to(q.dtype).t()).float()  # [B, h, T, 2w+1]
        rel_scores = torch.gather(rel_k, -1, offset.expand(b, self.n_heads, t, t)) * inside
        probs = torch.softmax((scores + rel_scores) * scale + key_bias, dim=-1)  # fp32 statistics

        out = torch.matmul(probs.to(v.dtype), v)
        # probability mass per relative offset: rel_probs[i, r] = probs[i, i + r − w] inside the sequence
        key_of = torch.arange(t, device=x.device)[:, None] + torch.arange(2 * w + 1, device=x.device)[None, :] - w
        valid = (key_of >= 0) & (key_of < t)
        rel_probs = torch.gather(probs, -1, key_of.clamp(0, t - 1).expand(b, self.n_heads, t, 2 * w + 1)) * valid
        out = out + torch.matmul(rel_probs.to(v.dtype), self.emb_rel_v[0].to(v.dtype))
        return self.conv_o(out.transpose(2, 3).reshape(b, c, t))


class ConvFFN(nn.Module):
    """conv (kernel k, same padding) → ReLU → conv 1×1, masked before each conv and after."""

    def __init__(self, channels: int, filter_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv_1 = nn.Conv1d(channels, filter_channels, kernel_size, padding=kernel_size // 2)
        self.conv_2 = nn.Conv1d(filter_channels, channels, 1)

    def forward(self, x: Tensor, x_mask: Tensor) -> Tensor:
        h = torch.relu(self.conv_1(x * x_mask))
        return self.conv_2(h * x_mask) * x_mask


class RelEncoderLayers(nn.Module):
    """The attention/FFN stack (the reference's ``Encoder``), pre- or post-LayerNorm."""

    def __init__(
        self,
        channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int,
        window_size: int,
        pre_ln: bool,
    ) -> None:
        super().__init__()
        self.pre_ln = pre_ln
        self.attn_layers = nn.ModuleList(RelativeSelfAttention(channels, n_heads, window_size) for _ in range(n_layers))
        self.norm_layers_1 = nn.ModuleList(ChannelLayerNorm(channels) for _ in range(n_layers))
        self.ffn_layers = nn.ModuleList(ConvFFN(channels, filter_channels, kernel_size) for _ in range(n_layers))
        self.norm_layers_2 = nn.ModuleList(ChannelLayerNorm(channels) for _ in range(n_layers))
        if pre_ln:
            self.last_ln = ChannelLayerNorm(channels)

    def forward(self, x: Tensor, x_mask: Tensor) -> Tensor:
        # Padded keys get −1e4 like the reference; padded query rows are computed but zeroed by x_mask.
        key_bias = (x_mask[:, None].float() - 1.0) * 1e4  # [B, 1, 1, T]
        layers = zip(self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2, strict=True)
        for attn, norm_1, ffn, norm_2 in layers:
            x = x * x_mask
            if self.pre_ln:
                x = x + attn(norm_1(x), key_bias)
                x = x + ffn(norm_2(x), x_mask)
            else:
                x = norm_1(x + attn(x, key_bias))
                x = norm_2(x + ffn(x, x_mask))
        if self.pre_ln:
            x = self.last_ln(x)
        return x * x_mask


class RelTransformerEncoder(nn.Module):
    """Phone embedding (×√hidden) + extra embeddings → optional conv prenet → relative-attention stack.

    State-dict keys: ``emb``, ``pre.*`` (when ``prenet``), ``encoder.*`` — those of the reference.
    """

    def __init__(
        self,
        n_vocab: int,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int,
        *,
        window_size: int = 4,
        prenet: bool = True,
        pre_ln: bool = True,
    ) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.emb = nn.Embedding(n_vocab, hidden_channels, padding_idx=0)
        if prenet:
            self.pre = ConvReluNormPrenet(hidden_channels)
        self.encoder = RelEncoderLayers(
            hidden_channels, filter_channels, n_heads, n_layers, kernel_size, window_size, pre_ln
        )

    def forward(self, tokens: Tensor, mask: Tensor | None = None, extra: Tensor | None = None) -> Tensor:
        """``tokens`` [B, T] → [B, T, hidden]; see the module docstring for ``mask`` and ``extra``."""
        if mask is None:
            mask = prefix_mask(tokens)
        x = self.emb(tokens) * math.sqrt(self.hidden_channels)
        if extra is not None:
            x = x + extra.to(x.dtype)
        x = x.transpose(1, 2)
        x_mask = mask[:, None].to(x.dtype)  # [B, 1, T]
        if hasattr(self, "pre"):
            x = self.pre(x, x_mask)
        return self.encoder(x, x_mask).transpose(1, 2)

"""The MegaTTS3 diffusion transformer (the reference's ``Diffusion``, checkpoint name ``dit``).

It predicts the flow-matching velocity of 25 Hz speech latents from: the noisy latent, the voice's prompt
latent (local conditioning over the first ``Lp`` latents) and the phones (a relative-position Transformer
over phones, expanded to 100 Hz frames by ``mel2ph`` and strided down to 25 Hz by ``ling_pre_net``). The
trunk is a 24-layer AdaLN-Zero Transformer modulated by the flow time. ``flow_sampler`` drives it.

The reference fixes every size in code and its ``diffusion_transformer/config.yaml`` holds only settings of
the surrounding pipeline; ``DiTConfig`` reads the sizes under ``dit_*`` keys (ours, absent from the official
file) with the reference's fixed values as defaults, so small test checkpoints can describe themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Self

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from megatts3_server.engines.megatts3.checkpoints import CheckpointError, apply_weights, load_weights, read_config
from megatts3_server.engines.megatts3.dit_blocks import TimestepEmbedding, Transformer, rope_tables
from megatts3_server.engines.megatts3.rel_transformer import RelTransformerEncoder, sinusoidal_positions

CHECKPOINT_NAME = "dit"
# 100 Hz frames per 25 Hz latent: ling_pre_net's two stride-2 convolutions fix it.
FRAMES_PER_LATENT = 4
# The reference rounds the MLP width (2 × hidden) up to a multiple of this.
_FFN_MULTIPLE = 256
# Prefix of our size keys in config.yaml (the official file has none; a bare ``hidden_size`` there could
# belong to the training template and must not be mistaken for the DiT's).
_PREFIX = "dit_"
# Pipeline settings in config.yaml that keep their reference names.
_PIPELINE_KEYS = ("win_size", "frames_multiple")


@dataclass(frozen=True)
class DiTConfig:
    """Sizes of the DiT. Defaults are the values the reference fixes in ``Diffusion.__init__``."""

    hidden_size: int = 1024
    layers: int = 24
    heads: int = 16
    latent_channels: int = 32
    local_cond_dim: int = 512
    ctx_mask_dim: int = 16
    max_seq_len: int = 16384  # the RoPE table length: the longest prompt+target in latents
    time_freq_dim: int = 256
    # Phone / tone vocabularies; the last id of each is the CFG mask token (301 / 31 in the reference).
    phone_vocab: int = 302
    tone_vocab: int = 32
    ph_enc_layers: int = 6
    ph_enc_heads: int = 4
    ph_enc_filter: int = 2048  # the reference uses 2 × hidden_size
    ph_enc_kernel: int = 3
    ph_enc_window: int = 4
    # 100 Hz frames of prompt+target are cut to a multiple of this (``self.fm = 8`` in the reference's CLI).
    frames_multiple: int = 8
    # Samples per window of the 24 kHz audio; the voice wav is padded with it (read by the engine).
    win_size: int = 1200

    @property
    def ffn_hidden(self) -> int:
        """Width of each block's MLP: 2 × hidden rounded up to a multiple of 256."""
        return -(-2 * self.hidden_size // _FFN_MULTIPLE) * _FFN_MULTIPLE

    @property
    def phone_mask_id(self) -> int:
        """Phone id of the unconditional CFG row."""
        return self.phone_vocab - 1

    @property
    def tone_mask_id(self) -> int:
        """Tone id of the unconditional CFG row."""
        return self.tone_vocab - 1

    @classmethod
    def from_hparams(cls, hp: Mapping[str, Any]) -> Self:
        """Read a checkpoint folder's ``config.yaml``.

        ``win_size`` is required (the reference has no default for it). Sizes come from ``dit_*`` keys, else
        the reference's fixed values; ``dit_ph_enc_filter`` defaults to 2 × ``dit_hidden_size`` as there.
        """
        if "win_size" not in hp:
            raise CheckpointError("the DiT config.yaml has no win_size (the official file sets 1200)")
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = f.name if f.name in _PIPELINE_KEYS else _PREFIX + f.name
            if key in hp:
                values[f.name] = int(hp[key])
        values.setdefault("ph_enc_filter", 2 * values.get("hidden_size", cls.hidden_size))
        config = cls(**values)
        config.validate()
        return config

    def to_hparams(self) -> dict[str, Any]:
        """The ``config.yaml`` keys that ``from_hparams`` reads back to this config."""
        return {(k if k in _PIPELINE_KEYS else _PREFIX + k): v for k, v in asdict(self).items()}

    def validate(self) -> None:
        """Raise CheckpointError for sizes the modules cannot be built with."""
        problems = []
        if self.hidden_size % self.heads or (self.hidden_size // self.heads) % 2:
            problems.append(f"hidden_size {self.hidden_size} needs an even head width over {self.heads} heads")
        if self.hidden_size % self.ph_enc_heads:
            problems.append(f"hidden_size {self.hidden_size} is not divisible by {self.ph_enc_heads} encoder heads")
        if self.phone_vocab < 2 or self.tone_vocab < 2:
            problems.append("phone_vocab and tone_vocab need room for padding and the CFG mask id")
        if self.frames_multiple % FRAMES_PER_LATENT:
            problems.append(f"frames_multiple {self.frames_multiple} is not a multiple of {FRAMES_PER_LATENT}")
        if problems:
            raise CheckpointError("invalid DiT config: " + "; ".join(problems))

    @classmethod
    def full(cls) -> Self:
        """The published model (458,834,496 parameters)."""
        return cls()

    @classmethod
    def small(cls) -> Self:
        """Tiny sizes for CI; the vocabularies stay full so the CFG mask ids 301/31 keep their meaning."""
        return cls(
            hidden_size=64,
            layers=2,
            heads=4,
            local_cond_dim=16,
            ctx_mask_dim=4,
            ph_enc_layers=1,
            ph_enc_heads=2,
            ph_enc_filter=128,
        )


class DiT(nn.Module):
    """The diffusion transformer; ``state_dict()`` keys and shapes equal the reference's ``dit``."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        c = self.config = config
        h = c.hidden_size
        self.ctx_mask_proj = nn.Linear(1, c.ctx_mask_dim)
        self.local_cond_project = nn.Linear(c.latent_channels + c.ctx_mask_dim, c.local_cond_dim)
        self.encoder = Transformer(c.layers, h, c.heads, c.ffn_hidden)
        self.x_prenet = nn.Linear(c.latent_channels, h)
        self.prenet = nn.Linear(c.local_cond_dim, h)
        self.postnet = nn.Linear(h, c.latent_channels)
        self.f5_time_embed = TimestepEmbedding(h, c.time_freq_dim)
        self.ph_encoder = RelTransformerEncoder(
            c.phone_vocab, h, c.ph_enc_filter, c.ph_enc_heads, c.ph_enc_layers, c.ph_enc_kernel,
            window_size=c.ph_enc_window,
        )  # fmt: skip
        self.tone_embed = nn.Embedding(c.tone_vocab, h, padding_idx=0)
        # 100 Hz → 50 Hz → 25 Hz; no activation between (as the reference).
        self.ling_pre_net = nn.Sequential(*(nn.Conv1d(h, h, kernel_size=4, stride=2, padding=1) for _ in range(2)))

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the weights (and so the transformer's activations) are in."""
        return self.x_prenet.weight.dtype

    def encode_ling(self, phones: Tensor, tones: Tensor, mel2ph: Tensor, frames: Tensor) -> Tensor:
        """Phone features at 25 Hz, ``[B, frames_max/4, hidden]``.

        ``phones``/``tones`` ``[B, P]`` right-padded with 0; ``mel2ph`` ``[B, F]`` 1-based phone index per
        100 Hz frame (0 = padding); ``frames`` ``[B]`` the valid frames per row (multiples of 4). Between and
        after the strided convolutions, positions past a row's length are zeroed so that the batch's padding
        reads exactly as the zero padding of that row alone.
        """
        nonpad = (phones > 0).unsqueeze(-1)
        positions = torch.arange(phones.shape[1], device=phones.device)[None]
        extra = (self.tone_embed(tones).float() + sinusoidal_positions(positions, self.config.hidden_size)) * nonpad
        x = self.ph_encoder(phones, extra=extra) * nonpad
        # Frame f takes phone mel2ph[f] (1-based); index 0 picks the zero row prepended here.
        x = F.pad(x, (0, 0, 1, 0))
        x = torch.gather(x, 1, mel2ph.unsqueeze(-1).expand(-1, -1, x.shape[-1])).transpose(1, 2)
        for i, conv in enumerate(self.ling_pre_net):
            x = conv(x)
            valid = frames // (2 ** (i + 1))
            x = x * (torch.arange(x.shape[-1], device=x.device)[None] < valid[:, None]).unsqueeze(1).to(x.dtype)
        return x.transpose(1, 2)

    def condition(self, x_ling: Tensor, lat_ctx: Tensor, ctx_mask: Tensor) -> Tensor:
        """The step-independent part of the transformer input: ``prenet(local_cond) + x_ling``.

        ``lat_ctx`` ``[B, T, C]`` the prompt latent (zeros outside the prompt and in the CFG rows that drop
        the speaker), ``ctx_mask`` ``[B, T, 1]`` 1 over the prompt.
        """
        ctx_mask = ctx_mask.to(self.dtype)
        local_cond = torch.cat([lat_ctx.to(self.dtype) * ctx_mask, self.ctx_mask_proj(ctx_mask)], dim=-1)
        return self.prenet(self.local_cond_project(local_cond)) + x_ling

    def time_embedding(self, t: Tensor) -> Tensor:
        """``[S]`` flow times → ``[S, hidden]`` embeddings (computed once per sampling call)."""
        return self.f5_time_embed(t)

    def rope(self, length: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """fp32 rotary tables for ``length`` latents; refuses lengths past the reference's table."""
        if length > self.config.max_seq_len:
            raise ValueError(f"{length} latents exceed the DiT's maximum of {self.config.max_seq_len}")
        return rope_tables(length, self.config.hidden_size // self.config.heads, device)

    def forward(
        self,
        x: Tensor,
        cond: Tensor,
        ctx_mask: Tensor,
        t_emb: Tensor,
        rope: tuple[Tensor, Tensor],
        key_mask: Tensor,
    ) -> Tensor:
        """Velocity ``[B, T, C]`` of the noisy latent ``x`` (prompt positions are blanked, as trained).

        ``cond`` from ``condition``; ``t_emb`` ``[1 or B, hidden]``; ``key_mask`` ``[B, T]`` bool, False
        where a row is padding.
        """
        x = (x * (1 - ctx_mask)).to(self.dtype)
        h = self.encoder(self.x_prenet(x) + cond, t_emb, rope, key_mask)
        return self.postnet(h)


def load_dit(
    folder: Path, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[DiT, DiTConfig]:
    """Build the DiT from ``folder/config.yaml`` and load its ``dit`` weights, in eval mode.

    Every parameter must come from the checkpoint (a missing or mis-shaped key is a CheckpointError naming
    it); keys the model does not have are logged and ignored, like the reference's non-strict load.
    """
    config = DiTConfig.from_hparams(read_config(folder))
    weights = load_weights(folder, CHECKPOINT_NAME)
    with torch.device("meta"):
        model = DiT(config).to(dtype)
    own = model.state_dict()
    absent = sorted(k for k in own if k not in weights)
    misshaped = sorted(f"{k} {tuple(weights[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
                       if k in weights and weights[k].shape != v.shape)  # fmt: skip
    if absent or misshaped:
        raise CheckpointError(
            f"DiT checkpoint in {folder} does not fit its config: missing {absent[:8]} ({len(absent)}), "
            f"shape {misshaped[:8]} ({len(misshaped)})"
        )
    model = model.to_empty(device=device)
    apply_weights(model, weights, strict=False, what=f"DiT ({folder})")
    return model.eval().requires_grad_(False), config

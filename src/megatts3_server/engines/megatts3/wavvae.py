"""The WaveVAE decoder: 25 Hz latents (B, T, 32) → 24 kHz waveform, 960 samples per latent.

Our implementation of the decoder half of MegaTTS3's ``WavVAE_V3`` (``proj_to_decoder`` → ``latent_upsampler`` →
``decoder.model_up``), with the official parameter names. The published ``wavvae/decoder.ckpt`` holds only these
keys under ``state_dict["model_gen"]``; a training checkpoint also holds the encoder (``encoder.*``,
``proj_to_z.*``), which we skip on purpose: voices ship their latent, so the encoder is never run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Self

import torch
from torch import Tensor, nn

from megatts3_server.engines.megatts3.checkpoints import (
    CheckpointError,
    apply_weights,
    find_checkpoint,
    load_weights,
    read_config,
)
from megatts3_server.engines.megatts3.wavvae_blocks import Generator, Upsample, WeightNormed

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "model_gen"
ENCODER_PREFIXES = ("encoder.", "proj_to_z.")


@dataclass(frozen=True)
class WavVAEConfig:
    """Sizes of the decoder and the audio framing around it.

    Read from ``config.yaml``: ``melgan_config.frame_shift`` and ``melgan_config.use_tanh`` (the reference needs
    both), ``vae_stride``, ``hop_size`` and ``audio_sample_rate``. The reference fixes the architecture in code
    (latent 32, projection 320, latent upsampling 4, ngf 128, ratios 5-4-4-3); our own keys ``wavvae_latent_dim``,
    ``wavvae_proj_dim``, ``wavvae_latent_upsample``, ``wavvae_ngf`` and ``wavvae_ratios`` make those settable for
    small test models and default to the reference's values.
    """

    latent_dim: int
    proj_dim: int  # width of proj_to_decoder; the latent upsampler halves it into the generator
    latent_upsample: int  # 25 Hz latents → 100 Hz frames
    ngf: int
    ratios: tuple[int, ...]  # per generator stage; their product is the samples per 100 Hz frame
    use_tanh: bool
    frame_shift: int  # kept for the reference's config (it stores it but never uses it)
    vae_stride: int
    hop_size: int
    sample_rate: int

    def __post_init__(self) -> None:
        sizes = (
            self.latent_dim,
            self.proj_dim,
            self.latent_upsample,
            self.ngf,
            self.frame_shift,
            self.vae_stride,
            self.hop_size,
            self.sample_rate,
            *self.ratios,
        )
        if not self.ratios or min(sizes) < 1:
            raise ValueError(f"WaveVAE sizes must be positive integers with at least one ratio: {self}")
        if self.proj_dim % 2:
            raise ValueError(f"wavvae_proj_dim must be even (the latent upsampler halves it), got {self.proj_dim}")
        # The pipeline trims vae_stride·hop_size samples per prompt latent: it must be what the decoder makes.
        if self.samples_per_latent != self.vae_stride * self.hop_size:
            raise ValueError(
                f"the decoder makes {self.samples_per_latent} samples per latent (wavvae_latent_upsample "
                f"{self.latent_upsample} × ratios {list(self.ratios)}) but vae_stride {self.vae_stride} × "
                f"hop_size {self.hop_size} = {self.vae_stride * self.hop_size}"
            )

    @property
    def samples_per_latent(self) -> int:
        """Audio samples decoded from one latent frame (960 at full size: 4 × 240)."""
        return self.latent_upsample * math.prod(self.ratios)

    @classmethod
    def from_hparams(cls, hp: Mapping[str, Any]) -> Self:
        """The config of a ``wavvae/config.yaml`` dict; raises ValueError naming a missing or bad key."""
        melgan = hp.get("melgan_config")
        if not isinstance(melgan, Mapping) or "use_tanh" not in melgan or "frame_shift" not in melgan:
            raise ValueError("config.yaml needs melgan_config with frame_shift and use_tanh")
        if "hop_size" not in hp:
            # The reference falls back to 4 here, which contradicts its own 960-sample decoder: refuse instead.
            raise ValueError("config.yaml needs hop_size (240 in the published WaveVAE config)")
        try:
            return cls(
                latent_dim=int(hp.get("wavvae_latent_dim", 32)),
                proj_dim=int(hp.get("wavvae_proj_dim", 320)),
                latent_upsample=int(hp.get("wavvae_latent_upsample", 4)),
                ngf=int(hp.get("wavvae_ngf", 128)),
                ratios=tuple(int(r) for r in hp.get("wavvae_ratios", (5, 4, 4, 3))),
                use_tanh=bool(melgan["use_tanh"]),
                frame_shift=int(melgan["frame_shift"]),
                vae_stride=int(hp.get("vae_stride", 4)),  # the reference's own fallback
                hop_size=int(hp["hop_size"]),
                sample_rate=int(hp.get("audio_sample_rate", 24000)),  # the reference hard-codes 24 kHz
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad WaveVAE setting in config.yaml: {exc}") from exc

    def to_hparams(self) -> dict[str, Any]:
        """The ``config.yaml`` dict that ``from_hparams`` reads back (and the reference can build from)."""
        return {
            "melgan_config": {"frame_shift": self.frame_shift, "use_tanh": self.use_tanh},
            "vae_stride": self.vae_stride,
            "hop_size": self.hop_size,
            "audio_sample_rate": self.sample_rate,
            "wavvae_latent_dim": self.latent_dim,
            "wavvae_proj_dim": self.proj_dim,
            "wavvae_latent_upsample": self.latent_upsample,
            "wavvae_ngf": self.ngf,
            "wavvae_ratios": list(self.ratios),
        }

    @classmethod
    def full(cls) -> Self:
        """The published decoder (226.08 M parameters)."""
        return cls(
            latent_dim=32,
            proj_dim=320,
            latent_upsample=4,
            ngf=128,
            ratios=(5, 4, 4, 3),
            use_tanh=True,
            frame_shift=240,
            vae_stride=4,
            hop_size=240,
            sample_rate=24000,
        )

    @classmethod
    def small(cls) -> Self:
        """A tiny decoder for tests: same framing (960 samples per latent, 24 kHz), narrow channels."""
        return replace(cls.full(), proj_dim=16, ngf=4)


class WavVAEDecoder(nn.Module):
    """Latents (B, T, latent_dim) → waveform (B, T · samples_per_latent), float32, in [-1, 1] with Tanh."""

    def __init__(self, config: WavVAEConfig) -> None:
        super().__init__()
        self.config = config
        self.proj_to_decoder = nn.Linear(config.latent_dim, config.proj_dim)
        self.latent_upsampler = Upsample(config.proj_dim, config.latent_upsample)
        self.decoder = Generator(config.proj_dim // 2, config.ngf, config.ratios, config.use_tanh)

    def forward(self, latent: Tensor) -> Tensor:
        """Decode a batch of equally long latent sequences (each row is independent of the others)."""
        if latent.dim() != 3 or latent.shape[2] != self.config.latent_dim or latent.shape[1] < 1:
            raise ValueError(f"latent must be (B, T ≥ 1, {self.config.latent_dim}), got {tuple(latent.shape)}")
        x = self.proj_to_decoder(latent.to(self.proj_to_decoder.weight.dtype)).transpose(1, 2)
        return self.decoder(self.latent_upsampler(x))[:, 0].float()

    def fold_weight_norm(self) -> Self:
        """Fold every weight-norm pair into a plain weight (same outputs, faster); state_dict keys change."""
        for module in self.modules():
            if isinstance(module, WeightNormed):
                module.fold_weight_norm()
        return self


def load_wavvae_decoder(
    folder: Path, *, device: torch.device, dtype: torch.dtype
) -> tuple[WavVAEDecoder, WavVAEConfig]:
    """The decoder of the checkpoint in ``folder`` (``model_only_last.ckpt``, ``model_ckpt_steps_N.ckpt`` or
    ``decoder.ckpt``), weight norm folded, in eval mode on ``device`` / ``dtype``.

    Every decoder key must be present with its shape; encoder keys are skipped; any other key is an error.
    The reference decodes in fp32; fp16/bf16 is our choice for speed on CUDA.
    """
    hp = read_config(folder)
    try:
        config = WavVAEConfig.from_hparams(hp)
    except ValueError as exc:
        raise CheckpointError(f"{folder / 'config.yaml'}: {exc}") from exc
    file = find_checkpoint(folder)
    weights = load_weights(file, CHECKPOINT_NAME)
    encoder_keys = [key for key in weights if key.startswith(ENCODER_PREFIXES)]
    if encoder_keys:
        log.info("WaveVAE %s: skipping %d encoder keys (the encoder is not used)", file, len(encoder_keys))
    # Built without random init: the strict load below fills every parameter or raises.
    with torch.device("meta"):
        model = WavVAEDecoder(config)
    model.to_empty(device="cpu")
    decoder_weights = {key: value for key, value in weights.items() if not key.startswith(ENCODER_PREFIXES)}
    apply_weights(model, decoder_weights, strict=True, what=f"WaveVAE decoder {file}")
    # Fold in fp32 before any cast so the norm is computed at full precision.
    model.fold_weight_norm().eval().requires_grad_(False)
    return model.to(device=device, dtype=dtype), config

"""One batch of MegaTTS3 synthesis: text pieces → phones → durations → latents → audio.

Pieces may come from different requests and voices. Each piece is spoken as a complete utterance
(the service joins pieces with sentence pauses), sampled with its own seeded generators so that its
audio does not depend on what else shares the batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyloudnorm
import torch

from megatts3_server.engines.megatts3.durations import DurationPrompt, length_regulate, postprocess, predict_tokens
from megatts3_server.engines.megatts3.flow_sampler import DiTItem, sample_latents
from megatts3_server.engines.megatts3.models import MegaTTS3Models
from megatts3_server.engines.megatts3.voice_prompt import VoicePrompt
from megatts3_server.text.script import has_han

# ASCII punctuation the G2P model knows only in its full-width form in Chinese text (as the reference feeds it).
# Latents decoded before the prompt's end: the WaveVAE decoder's receptive field spans fewer than 4 latents
# on each side (measured on full-size random weights: 4 → 2e-6 from the whole decode, 8 → 2e-7).
DECODE_CONTEXT = 8
_FULL_WIDTH = str.maketrans({",": "，", ".": "。", "!": "！", "?": "？", ";": "；", ":": "："})


@dataclass(frozen=True)
class SamplingPlan:
    """How one piece is sampled (the engine fills in configured defaults)."""

    text: str
    prompt: VoicePrompt
    duration_prompt: DurationPrompt
    speed: float
    time_step: int
    p_w: float
    t_w: float
    seed: int | None
    version: str
    """The voice's version: part of the piece's seed, so a re-uploaded voice samples afresh."""


def g2p_text(text: str) -> str:
    """The text as the G2P model expects it."""
    return text.translate(_FULL_WIDTH) if has_han(text) else text


def piece_seeds(plan: SamplingPlan) -> tuple[int | None, int | None]:
    """Seeds of the piece's (duration jitter, diffusion noise), fixed by its content and settings; None
    for fresh randomness. The sampler's settings do not move the durations: changing the guidance or the
    number of steps changes how the piece sounds, not its timing."""
    if plan.seed is None:
        return None, None
    timing = f"{plan.seed}|{plan.version}|{plan.speed}|{plan.text}"
    sound = f"{timing}|{plan.time_step}|{plan.p_w}|{plan.t_w}"
    return _digest(timing), _digest(sound)


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") & (2**63 - 1)


def _generator(seed: int | None) -> torch.Generator:
    """A CPU generator: the same seed gives the same noise whatever device the models run on."""
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def match_loudness(wav: np.ndarray, target_lufs: float, sample_rate: int) -> np.ndarray:
    """Bring ``wav`` to the prompt's integrated loudness; scale to a 0.95 peak if that clips."""
    meter = pyloudnorm.Meter(sample_rate)
    if len(wav) >= int(meter.block_size * sample_rate) and np.isfinite(target_lufs):
        loudness = meter.integrated_loudness(wav.astype(np.float64))
        if np.isfinite(loudness):
            wav = wav * np.float32(10 ** ((target_lufs - loudness) / 20))
    peak = float(np.max(np.abs(wav))) if len(wav) else 0.0
    if peak >= 1.0:
        wav = wav / peak * 0.95
    return wav.astype(np.float32)


def synthesize_pieces(
    models: MegaTTS3Models,
    plans: Sequence[SamplingPlan],
    *,
    dur_disturb: float,
    max_batch: int,
    should_stop: Callable[[], bool] | None = None,
) -> list[np.ndarray]:
    """Audio (float32, the WaveVAE's rate) for every plan, in order."""
    device = models.device
    seeds = [piece_seeds(plan) for plan in plans]
    phones = models.g2p([g2p_text(plan.text) for plan in plans])
    segments = [(ph.to(device), tone.to(device)) for ph, tone in phones]
    # One decoding loop for every piece's durations; each piece's jitter from its own generator.
    tokens = predict_tokens(models.duration, [plan.duration_prompt for plan in plans], segments)
    items: list[DiTItem] = []
    for plan, (timing_seed, noise_seed), (ph, tone), piece_tokens in zip(plans, seeds, segments, tokens, strict=True):
        durations = postprocess(
            piece_tokens,
            ph,
            is_first=True,
            is_final=True,
            dur_alpha=1.0 / plan.speed,
            dur_disturb=dur_disturb,
            generator=_generator(timing_seed),
            code_size=models.duration.config.dur_code_size,
        )
        prompt = plan.prompt
        items.append(
            DiTItem(
                prompt_latent=prompt.latent,
                ph_ref=prompt.ph_ref,
                tone_ref=prompt.tone_ref,
                mel2ph_ref=prompt.mel2ph_ref,
                ph=ph,
                tone=tone,
                mel2ph=length_regulate(durations).to(device),
                generator=_generator(noise_seed),
            )
        )
    by_index: dict[int, torch.Tensor] = {}
    # Items sampled together must share the sampling settings.
    for group in _groups(plans, max_batch):
        first = plans[group[0]]
        sampled = sample_latents(
            models.dit,
            [items[index] for index in group],
            steps=first.time_step,
            p_w=first.p_w,
            t_w=first.t_w,
            should_stop=should_stop,
        )
        by_index.update(zip(group, sampled, strict=True))
    rate = models.wavvae_config.sample_rate
    per_latent = models.wavvae_config.samples_per_latent
    out = []
    for index, plan in enumerate(plans):
        latent = by_index[index].to(device=device, dtype=torch.float32)
        wav = decode_after_prompt(models.wavvae, latent, plan.prompt.latent.shape[0], per_latent)
        out.append(match_loudness(wav, plan.prompt.loudness, rate))
    return out


def decode_after_prompt(
    decoder: torch.nn.Module, latent: torch.Tensor, prompt_latents: int, samples_per_latent: int
) -> np.ndarray:
    """The audio of ``latent`` [T, C] after its first ``prompt_latents`` frames.

    The reference decodes the whole sequence and drops the prompt's samples; the decoder only looks a few
    latents around each one, so decoding from DECODE_CONTEXT latents before the cut gives the same samples
    (to float rounding) for a fraction of the work when the prompt is long.
    """
    start = max(0, prompt_latents - DECODE_CONTEXT)
    wav = decoder(latent[None, start:])[0].float().cpu().numpy()
    return wav[(prompt_latents - start) * samples_per_latent :]


def _groups(plans: Sequence[SamplingPlan], max_batch: int) -> list[list[int]]:
    """Indexes of plans, grouped by sampling settings, at most ``max_batch`` per group."""
    by_settings: dict[tuple[int, float, float], list[int]] = {}
    for index, plan in enumerate(plans):
        by_settings.setdefault((plan.time_step, plan.p_w, plan.t_w), []).append(index)
    return [
        indexes[start : start + max_batch]
        for indexes in by_settings.values()
        for start in range(0, len(indexes), max_batch)
    ]

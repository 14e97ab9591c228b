"""Batched classifier-free-guided flow-matching sampler for the MegaTTS3 DiT.

Each item (a text segment in a voice) contributes three CFG rows: speaker+text, text only, and neither
(phones and tones replaced by the mask ids). Items of different lengths share one transformer pass per
step: rows are right-padded, padded keys are masked in attention, and the phone features are built so
that padding never reaches real positions; an item therefore gets the same latents (to float rounding)
whatever batch it is in. Each item draws its noise from its own generator, in a fixed order (the start
noise, then one draw per stochastic step), so its result depends only on its seed.

The schedule and update follow the reference: times τᵢ = 1 − cos(π/2 · i/steps) (sway sampling with
coefficient −1) and the AMO overshooting step; all sampler arithmetic is fp32 whatever the model dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from megatts3_server.engines.megatts3.dit import FRAMES_PER_LATENT, DiT
from megatts3_server.errors import SynthesisCancelledError

# The AMO sampler's overshoot factor c (Algorithm 1 of arXiv:2411.19415, as the reference uses it).
_OVERSHOOT = 3.0
# Tones the DiT was trained with; anything else (English and punctuation tones) reads as "no tone".
_KEPT_TONES = (0, 4, 11, 12, 13, 14, 15)
_NO_TONE = 3


@dataclass(frozen=True)
class DiTItem:
    """One segment to sample: the voice's prompt plus the phones and frame alignment to speak."""

    prompt_latent: Tensor  # [Lp, C] float, the voice latent cut to len(mel2ph_ref) // 4
    ph_ref: Tensor  # [P_ref] long, the voice's phones
    tone_ref: Tensor  # [P_ref] long
    mel2ph_ref: Tensor  # [F_ref] long, 1-based phone index per 100 Hz frame of the prompt
    ph: Tensor  # [P] long, the segment's phones
    tone: Tensor  # [P] long
    mel2ph: Tensor  # [F] long, 1-based into ``ph`` (from the duration model)
    generator: torch.Generator  # noise source; a CPU generator gives the same noise on every device


@dataclass(frozen=True)
class _Prepared:
    phones: Tensor  # [P_ref + P]
    tones: Tensor
    mel2ph: Tensor  # [F], F a multiple of frames_multiple
    prompt: Tensor  # [Lp, C]
    latents: int  # F // 4


def time_schedule(steps: int) -> Tensor:
    """The ``steps + 1`` fp32 flow times from 0 to 1 (linear times bent by sway sampling, coefficient −1)."""
    t = torch.linspace(0, 1, steps + 1, dtype=torch.float32)
    return t - (torch.cos(torch.pi / 2 * t) - 1 + t)


def amo_coefficients(t: float, s: float) -> tuple[float, float, float]:
    """``(o − t, a, b)`` of one AMO step from time t to s: x ← a·(x + (o − t)·v) + b·ε."""
    o = min(s + _OVERSHOOT * (s - t), 1.0)
    a = s / o
    # Non-negative in exact arithmetic (o ≥ s); the clamp only absorbs rounding. Zero at the last step.
    b = math.sqrt(max((1 - s) ** 2 - (a * (1 - o)) ** 2, 0.0))
    return o - t, a, b


def _vector(x: Tensor, name: str) -> Tensor:
    if x.dim() == 2 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 1:
        raise ValueError(f"{name} must be 1-D (or [1, N]), got shape {tuple(x.shape)}")
    return x.long().cpu()


def _prepare(item: DiTItem, model: DiT) -> _Prepared:
    config = model.config
    ph_ref, ph = _vector(item.ph_ref, "ph_ref"), _vector(item.ph, "ph")
    tone_ref, tone = _vector(item.tone_ref, "tone_ref"), _vector(item.tone, "tone")
    mel2ph_ref, mel2ph = _vector(item.mel2ph_ref, "mel2ph_ref"), _vector(item.mel2ph, "mel2ph")
    if ph_ref.shape != tone_ref.shape or ph.shape != tone.shape:
        raise ValueError("each phone sequence needs one tone per phone")
    phones = torch.cat([ph_ref, ph])
    tones = torch.cat([tone_ref, tone])
    tones = torch.where(torch.isin(tones, torch.tensor(_KEPT_TONES)), tones, torch.full_like(tones, _NO_TONE))
    if phones.numel() and (int(phones.min()) < 1 or int(phones.max()) >= config.phone_mask_id):
        raise ValueError(f"phone ids must lie in 1…{config.phone_mask_id - 1}")
    frames = torch.cat([mel2ph_ref, mel2ph + ph_ref.numel()])
    frames = frames[: frames.numel() // config.frames_multiple * config.frames_multiple]
    if frames.numel() == 0:
        raise ValueError(f"the prompt and segment together are shorter than {config.frames_multiple} frames")
    if int(frames.min()) < 1 or int(frames.max()) > phones.numel():
        raise ValueError("mel2ph must index the phones 1-based")
    prompt = item.prompt_latent.reshape(-1, config.latent_channels).float().cpu()
    latents = frames.numel() // FRAMES_PER_LATENT
    if prompt.shape[0] > latents:
        raise ValueError(f"the prompt latent ({prompt.shape[0]}) is longer than the whole output ({latents})")
    return _Prepared(phones, tones, frames, prompt, latents)


def _draw(item: DiTItem, latents: int, channels: int) -> Tensor:
    return torch.randn((latents, channels), generator=item.generator, device=item.generator.device)


@dataclass(frozen=True)
class DiTBatch:
    """The padded model inputs of several items: three CFG rows per item (speaker+text, text, neither)."""

    phones: Tensor  # [3N, P_max] long, right-padded with 0
    tones: Tensor  # [3N, P_max] long
    mel2ph: Tensor  # [3N, F_max] long, 0 past each row's frames
    frames: Tensor  # [3N] long, valid 100 Hz frames per row
    lat_ctx: Tensor  # [3N, T_max, C] fp32, the prompt latent in each item's first row only
    ctx_mask: Tensor  # [3N, T_max, 1] fp32, 1 over each item's prompt
    key_mask: Tensor  # [3N, T_max] bool, True over each row's latents
    latents: tuple[int, ...]  # T per item
    prompts: tuple[Tensor, ...]  # [Lp, C] fp32 per item


def prepare_batch(model: DiT, items: Sequence[DiTItem]) -> DiTBatch:
    """Validate the items and lay them out as padded CFG rows on the model's device."""
    config = model.config
    device = model.x_prenet.weight.device
    prepared = [_prepare(item, model) for item in items]
    rows, channels = 3 * len(prepared), config.latent_channels
    max_phones = max(p.phones.numel() for p in prepared)
    max_frames = max(p.mel2ph.numel() for p in prepared)
    max_latents = max(p.latents for p in prepared)

    phones = torch.zeros(rows, max_phones, dtype=torch.long)
    tones = torch.zeros(rows, max_phones, dtype=torch.long)
    mel2ph = torch.zeros(rows, max_frames, dtype=torch.long)
    frames = torch.zeros(rows, dtype=torch.long)
    lat_ctx = torch.zeros(rows, max_latents, channels)
    ctx_mask = torch.zeros(rows, max_latents, 1)
    key_mask = torch.zeros(rows, max_latents, dtype=torch.bool)
    for i, p in enumerate(prepared):
        item_rows, real, uncond = slice(3 * i, 3 * i + 3), slice(3 * i, 3 * i + 2), 3 * i + 2
        count, lp = p.phones.numel(), p.prompt.shape[0]
        phones[real, :count] = p.phones
        tones[real, :count] = p.tones
        phones[uncond, :count] = config.phone_mask_id
        tones[uncond, :count] = config.tone_mask_id
        mel2ph[item_rows, : p.mel2ph.numel()] = p.mel2ph
        frames[item_rows] = p.mel2ph.numel()
        lat_ctx[3 * i, :lp] = p.prompt
        ctx_mask[item_rows, :lp] = 1.0
        key_mask[item_rows, : p.latents] = True
    return DiTBatch(
        *(t.to(device) for t in (phones, tones, mel2ph, frames, lat_ctx, ctx_mask, key_mask)),
        latents=tuple(p.latents for p in prepared),
        prompts=tuple(p.prompt for p in prepared),
    )


def guide(v_rows: Tensor, p_w: float, t_w: float) -> Tensor:
    """Combine the velocities of the CFG rows ``[3N, T, C]`` into ``[N, T, C]`` fp32."""
    v_spk, v_text, v_none = v_rows.float().unflatten(0, (-1, 3)).unbind(1)
    return v_none + p_w * (v_text - v_none) + t_w * (v_spk - v_text)


def sample_latents(
    model: DiT,
    items: Sequence[DiTItem],
    *,
    steps: int = 32,
    p_w: float = 1.6,
    t_w: float = 2.5,
    should_stop: Callable[[], bool] | None = None,
) -> list[Tensor]:
    """Sample each item's latents ``[T, C]`` fp32 (prompt included, its part replaced by the prompt latent).

    ``p_w`` weighs the text condition and ``t_w`` the speaker condition:
    v = v_none + p_w·(v_text − v_none) + t_w·(v_spk+text − v_text). ``should_stop`` is polled before every
    step; when it returns True, SynthesisCancelledError is raised.
    """
    if steps < 1:
        raise ValueError("steps must be at least 1")
    if not items:
        return []
    with torch.inference_mode():
        batch = prepare_batch(model, items)
        return _sample(model, batch, items, steps, p_w, t_w, should_stop)


def _sample(
    model: DiT,
    batch: DiTBatch,
    items: Sequence[DiTItem],
    steps: int,
    p_w: float,
    t_w: float,
    should_stop: Callable[[], bool] | None,
) -> list[Tensor]:
    device = batch.key_mask.device
    n, max_latents, channels = len(items), batch.key_mask.shape[1], model.config.latent_channels

    # Everything that does not depend on the step, once per call.
    x_ling = model.encode_ling(batch.phones, batch.tones, batch.mel2ph, batch.frames)
    cond = model.condition(x_ling, batch.lat_ctx, batch.ctx_mask)
    schedule = time_schedule(steps)
    t_embs = model.time_embedding(schedule[:steps].to(device))
    rope = model.rope(max_latents, device)

    def noise() -> Tensor:
        out = torch.zeros(n, max_latents, channels)
        for i, (latents, item) in enumerate(zip(batch.latents, items, strict=True)):
            out[i, :latents] = _draw(item, latents, channels).cpu()
        return out.to(device)

    # Padded positions are kept at zero: their garbage velocity must not grow into inf/NaN, which would
    # leak through attention (a masked key still multiplies its value by a zero probability).
    valid = batch.key_mask[::3, :, None].float()
    x = noise()
    for step in range(steps):
        if should_stop is not None and should_stop():
            raise SynthesisCancelledError(f"latent sampling cancelled before step {step + 1} of {steps}")
        t, s = float(schedule[step]), float(schedule[step + 1])
        rows = x.repeat_interleave(3, dim=0)
        v = guide(model(rows, cond, batch.ctx_mask, t_embs[step : step + 1], rope, batch.key_mask), p_w, t_w)
        advance, a, b = amo_coefficients(t, s)
        x = a * (x + advance * v)
        if b > 0:
            x = x + b * noise()
        x = x * valid

    out = []
    for i, (latents, prompt) in enumerate(zip(batch.latents, batch.prompts, strict=True)):
        latent = x[i, :latents].clone()
        latent[: prompt.shape[0]] = prompt.to(device)
        out.append(latent)
    return out

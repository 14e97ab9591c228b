"""Parity stage: our DiT and flow sampler against the reference ``Diffusion`` on the same checkpoint.

Both sides load ``<checkpoint_root>/diffusion_transformer`` (ours through ``load_dit``, the reference through
its ``load_ckpt``), get the same phones, alignment, prompt latent and noise (the reference's ``torch.randn``
is routed to a seeded generator that draws in the same order as our item generator), and are compared on:
the phone features at 25 Hz (alone and inside a batch with another item), one guided velocity, and a
short sampling run. Run through ``run.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from differences import Row, tensor_row
from reference_code import import_reference

from megatts3_server.engines.megatts3.dit import CHECKPOINT_NAME, load_dit
from megatts3_server.engines.megatts3.flow_sampler import (
    DiTItem,
    guide,
    prepare_batch,
    sample_latents,
    time_schedule,
)

FOLDER = "diffusion_transformer"
P_W, T_W = 1.6, 2.5
SAMPLER_STEPS = 4


def _aligned(count: int, frames: int, generator: torch.Generator) -> torch.Tensor:
    """A monotonic 1-based mel2ph over ``frames`` frames in which every phone gets at least one frame."""
    extra = torch.randint(1, count + 1, (frames - count,), generator=generator)
    return torch.sort(torch.cat([torch.arange(1, count + 1), extra])).values


def make_item(seed: int, ref_phones: int, ref_frames: int, phones: int, frames: int, noise_seed: int) -> DiTItem:
    """A random but well-formed item: prompt of ``ref_frames`` 100 Hz frames, segment of ``frames``."""
    g = torch.Generator().manual_seed(seed)
    return DiTItem(
        prompt_latent=torch.randn(ref_frames // 4, 32, generator=g),
        ph_ref=torch.randint(3, 174, (ref_phones,), generator=g),
        tone_ref=torch.randint(0, 19, (ref_phones,), generator=g),
        mel2ph_ref=_aligned(ref_phones, ref_frames, g),
        ph=torch.randint(3, 174, (phones,), generator=g),
        tone=torch.randint(0, 19, (phones,), generator=g),
        mel2ph=_aligned(phones, frames, g),
        generator=torch.Generator().manual_seed(noise_seed),
    )


@contextlib.contextmanager
def _seeded_randn(seed: int) -> Iterator[None]:
    """Route ``torch.randn`` through a CPU generator seeded like our item's (the reference draws no other way)."""
    original = torch.randn
    generator = torch.Generator().manual_seed(seed)

    def randn(*size: Any, device: torch.device | str | None = None, **kwargs: Any) -> torch.Tensor:
        # Drawn on the CPU so that a CUDA run of the reference sees the very same numbers as ours.
        return original(*size, generator=generator, **kwargs).to(device or "cpu")

    torch.randn = randn
    try:
        yield
    finally:
        torch.randn = original


def _reference_inputs(item: DiTItem, device: str) -> dict[str, torch.Tensor]:
    from tts.frontend_function import prepare_inputs_for_dit  # the reference's own input builder

    host = SimpleNamespace(fm=8, vae_stride=4, device=device, cfg_mask_token_phone=301, cfg_mask_token_tone=31)
    return prepare_inputs_for_dit(
        host,
        item.mel2ph_ref[None].to(device),
        item.mel2ph[None].to(device),
        item.ph_ref[None].to(device),
        item.tone_ref[None].clone().to(device),
        item.ph[None].to(device),
        item.tone[None].clone().to(device),
        item.prompt_latent[None].to(device),
    )


def compare(reference_root: Path, checkpoint_root: Path, device: str, seed: int) -> list[Row]:
    """Differences, per stage, between the reference DiT and ours (fp32 on ``device``)."""
    import_reference(reference_root)
    from tts.modules.ar_dur.ar_dur_predictor import expand_states
    from tts.modules.llm_dit.dit import Diffusion
    from tts.utils.commons.ckpt_utils import load_ckpt

    torch.manual_seed(seed)
    folder = checkpoint_root / FOLDER
    ours, _ = load_dit(folder, device=device, dtype=torch.float32)
    ref = Diffusion()
    load_ckpt(ref, str(folder), CHECKPOINT_NAME, strict=False)
    ref = ref.eval().to(device)

    item = make_item(seed, ref_phones=24, ref_frames=200, phones=30, frames=240, noise_seed=seed + 1)
    other = make_item(seed + 7, ref_phones=11, ref_frames=96, phones=9, frames=100, noise_seed=seed + 8)
    inputs = _reference_inputs(item, device)
    results: list[Row] = []
    with torch.inference_mode():
        ling_ref = ref.forward_ling_encoder(inputs["phone"], inputs["tone"])
        ling_ref = ref.ling_pre_net(expand_states(ling_ref, inputs["dur"]).transpose(1, 2)).transpose(1, 2)
        alone = prepare_batch(ours, [item])
        ling = ours.encode_ling(alone.phones, alone.tones, alone.mel2ph, alone.frames)
        results.append(tensor_row("dit.x_ling", ling, ling_ref))
        both = prepare_batch(ours, [other, item])
        ling_b = ours.encode_ling(both.phones, both.tones, both.mel2ph, both.frames)[3:, : ling_ref.shape[1]]
        results.append(tensor_row("dit.x_ling_batched", ling_b, ling_ref))

        # One guided velocity at an interior time of the 32-step schedule.
        t = time_schedule(32)[8:9].to(device)
        x = torch.randn(1, ling_ref.shape[1], 32, generator=torch.Generator().manual_seed(seed + 2)).to(device)
        local_ref = ref.local_cond_project(torch.cat([inputs["lat_ctx"], ref.ctx_mask_proj(inputs["ctx_mask"])], -1))
        v_ref = ref._forward(torch.cat([x] * 3), local_ref, ling_ref, t, inputs["ctx_mask"], seq_cfg_w=[P_W, T_W])
        cond = ours.condition(ling, alone.lat_ctx, alone.ctx_mask)
        rope = ours.rope(x.shape[1], torch.device(device))
        v_rows = ours(x.repeat(3, 1, 1), cond, alone.ctx_mask, ours.time_embedding(t), rope, alone.key_mask)
        results.append(tensor_row("dit.velocity_cfg", guide(v_rows, P_W, T_W), v_ref))

        with _seeded_randn(seed + 1):
            x_ref = ref.inference(inputs, timesteps=SAMPLER_STEPS, seq_cfg_w=[P_W, T_W]).float()
        x_ref[:, : item.prompt_latent.shape[0]] = item.prompt_latent.to(device)
        (latent,) = sample_latents(ours, [item], steps=SAMPLER_STEPS, p_w=P_W, t_w=T_W)
        results.append(tensor_row(f"dit.sampler_{SAMPLER_STEPS}_steps", latent, x_ref[0]))
    return results

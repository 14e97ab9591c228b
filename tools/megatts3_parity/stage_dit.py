"""Parity stage: our DiT and flow sampler against the reference ``Diffusion`` on the same checkpoint.

Both sides load ``<checkpoint_root>/diffusion_transformer`` (ours through ``load_dit``, the reference through
its ``load_ckpt``), get the same phones, alignment, prompt latent and noise (the reference's ``torch.randn``
is routed to a seeded generator that draws in the same order as our item generator), and are compared on:
the phone features at 25 Hz (alone and inside a batch with another item), one guided velocity, and a
short sampling run. Run directly to write full-size random weights and print the figures::

    python tools/megatts3_parity/stage_dit.py --reference-root /tmp/megatts3-research/src \\
        --checkpoint-root /tmp/mt3-full --write-random
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from megatts3_server.engines.megatts3.checkpoints import save_checkpoint
from megatts3_server.engines.megatts3.dit import CHECKPOINT_NAME, DiTConfig, load_dit, random_state_dict
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


def _reference_path(reference_root: Path) -> Path:
    for candidate in (reference_root, reference_root / "src"):
        if (candidate / "tts").is_dir():
            return candidate
    raise FileNotFoundError(f"no tts/ package under {reference_root}")


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


def compare(reference_root: Path, checkpoint_root: Path, device: str, seed: int) -> list[tuple[str, float]]:
    """Max absolute differences, per stage, between the reference DiT and ours (fp32 on ``device``)."""
    sys.path.insert(0, str(_reference_path(reference_root)))
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
    results: list[tuple[str, float]] = []
    with torch.inference_mode():
        ling_ref = ref.forward_ling_encoder(inputs["phone"], inputs["tone"])
        ling_ref = ref.ling_pre_net(expand_states(ling_ref, inputs["dur"]).transpose(1, 2)).transpose(1, 2)
        alone = prepare_batch(ours, [item])
        ling = ours.encode_ling(alone.phones, alone.tones, alone.mel2ph, alone.frames)
        results.append(("dit.x_ling", (ling - ling_ref).abs().max().item()))
        both = prepare_batch(ours, [other, item])
        ling_b = ours.encode_ling(both.phones, both.tones, both.mel2ph, both.frames)[3:, : ling_ref.shape[1]]
        results.append(("dit.x_ling_batched", (ling_b - ling_ref).abs().max().item()))

        # One guided velocity at an interior time of the 32-step schedule.
        t = time_schedule(32)[8:9].to(device)
        x = torch.randn(1, ling_ref.shape[1], 32, generator=torch.Generator().manual_seed(seed + 2)).to(device)
        local_ref = ref.local_cond_project(torch.cat([inputs["lat_ctx"], ref.ctx_mask_proj(inputs["ctx_mask"])], -1))
        v_ref = ref._forward(torch.cat([x] * 3), local_ref, ling_ref, t, inputs["ctx_mask"], seq_cfg_w=[P_W, T_W])
        cond = ours.condition(ling, alone.lat_ctx, alone.ctx_mask)
        rope = ours.rope(x.shape[1], torch.device(device))
        v_rows = ours(x.repeat(3, 1, 1), cond, alone.ctx_mask, ours.time_embedding(t), rope, alone.key_mask)
        results.append(("dit.velocity_cfg", (guide(v_rows, P_W, T_W) - v_ref).abs().max().item()))

        with _seeded_randn(seed + 1):
            x_ref = ref.inference(inputs, timesteps=SAMPLER_STEPS, seq_cfg_w=[P_W, T_W]).float()
        x_ref[:, : item.prompt_latent.shape[0]] = item.prompt_latent.to(device)
        (latent,) = sample_latents(ours, [item], steps=SAMPLER_STEPS, p_w=P_W, t_w=T_W)
        results.append((f"dit.sampler_{SAMPLER_STEPS}_steps", (latent - x_ref[0]).abs().max().item()))
    return results


def time_forward(checkpoint_root: Path, seconds_prompt: float, seconds_target: float) -> float:
    """CPU seconds of one guided transformer forward (3 CFG rows) at full size, for the report."""
    model, _ = load_dit(checkpoint_root / FOLDER)
    item = make_item(0, 30, int(seconds_prompt * 100) // 8 * 8, 40, int(seconds_target * 100) // 8 * 8, 1)
    with torch.inference_mode():
        batch = prepare_batch(model, [item])
        ling = model.encode_ling(batch.phones, batch.tones, batch.mel2ph, batch.frames)
        cond = model.condition(ling, batch.lat_ctx, batch.ctx_mask)
        t_emb = model.time_embedding(torch.tensor([0.5]))
        rope = model.rope(batch.latents[0], torch.device("cpu"))
        x = torch.randn(3, batch.latents[0], 32)
        start = time.perf_counter()
        model(x, cond, batch.ctx_mask, t_emb, rope, batch.key_mask)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-root", type=Path, required=True)
    parser.add_argument("--checkpoint-root", type=Path, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--write-random", action="store_true", help="first write full-size random weights")
    parser.add_argument("--time", action="store_true", help="also time one forward (2 s prompt + 4 s target)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.write_random:
        config = DiTConfig.full()
        save_checkpoint(args.checkpoint_root / FOLDER, CHECKPOINT_NAME, random_state_dict(config, args.seed),
                        config.to_hparams())  # fmt: skip
    for name, diff in compare(args.reference_root, args.checkpoint_root, args.device, args.seed):
        print(f"{name:28s} max |Δ| = {diff:.3e}")
    if args.time:
        print(f"one forward, 3 rows × (2 s + 4 s): {time_forward(args.checkpoint_root, 2.0, 4.0):.2f} s CPU")


if __name__ == "__main__":
    main()

"""Phone durations from the duration LM: the per-voice prompt state, batched prediction, post-processing.

Per voice, ``build_prompt`` teacher-forces the reference speech's duration tokens (one parallel causal
pass) and keeps the decoder's keys/values. Per text segment, ``predict_durations`` continues from that
state phone by phone and turns the tokens into frame counts (100 Hz) exactly as the reference's front end
does. Several segments (of one or several voices) run in one autoregressive loop.

The prompt state costs ``layers × 2 × P × hidden`` values (about 32 KB per prompt phone in fp32 at full
size), while rebuilding it is one parallel pass over P phones: the engine should rebuild it from
``ph_ref``/``tone_ref``/``dur_ref`` when a voice is loaded; ``to_arrays``/``from_arrays`` exist for callers
that prefer storing it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from megatts3_server.engines.megatts3.duration_model import DECODER_HEADS, DurationLM

FRAMES_MULTIPLE = 8  # the reference pads each segment to a multiple of 8 frames (2 latents)
CROSSFADE_FRAMES = 32  # added to a non-final segment's last phone: room for the 0.16 s crossfade
FINAL_LAST_RANGE = (64, 128)  # the final segment's last phone is clamped into this range
MAX_FRAMES = 127  # per-phone cap after jitter and speed
FIRST_SIL_FRAMES = 8  # the forced leading `sil` of the first segment
# Minimum frames for pause phones: 。！？ and sil; ，；
LONG_PAUSES = ((148, 153, 166, 145), 64)
SHORT_PAUSES = ((163, 165), 32)


@dataclass
class DurationPrompt:
    """The decoder state after the voice's prompt: RoPE-rotated keys and values [layers, heads, P, d] and
    the last prompt token, which is the first input of every segment."""

    keys: Tensor
    values: Tensor
    last_token: int

    @property
    def length(self) -> int:
        """Number of prompt phones P (the first segment position)."""
        return self.keys.shape[2]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """float32 numpy arrays for the voice store (bf16 has no numpy type)."""
        return {
            "keys": self.keys.float().cpu().numpy(),
            "values": self.values.float().cpu().numpy(),
            "last_token": np.array([self.last_token], dtype=np.int64),
        }

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], *, device: torch.device | str, dtype: torch.dtype
    ) -> DurationPrompt:
        """Inverse of ``to_arrays``, onto the model's device and dtype."""
        return cls(
            keys=torch.from_numpy(np.asarray(arrays["keys"])).to(device=device, dtype=dtype),
            values=torch.from_numpy(np.asarray(arrays["values"])).to(device=device, dtype=dtype),
            last_token=int(np.asarray(arrays["last_token"]).reshape(-1)[0]),
        )


def _check_phones(phones: Tensor, what: str) -> None:
    if phones.ndim != 1 or phones.numel() == 0:
        raise ValueError(f"{what}: expected a non-empty 1-D phone sequence, got shape {tuple(phones.shape)}")
    if bool((phones <= 0).any()):
        # id 0 is padding: the reference silently drops such phones; callers must not produce them
        raise ValueError(f"{what}: phone ids must be ≥ 1")


def prompt_pass(model: DurationLM, ph_ref: Tensor, tone_ref: Tensor, dur_ref: Tensor) -> tuple[DurationPrompt, Tensor]:
    """Teacher-force the prompt; return its state and the head outputs at the P steps ([P, 1] or [P, V]).

    ``dur_ref`` is the reference speech's frames per phone; tokens are min(frames, code_size − 1) + 1.
    Step s feeds BOS (s = 0) or token s − 1, plus the phone's vector, at position s.
    """
    _check_phones(ph_ref, "prompt")
    if not ph_ref.shape == tone_ref.shape == dur_ref.shape:
        raise ValueError("ph_ref, tone_ref and dur_ref must have the same length")
    device = model.code_emb.weight.device
    code_size = model.config.dur_code_size
    tokens = dur_ref.to(device=device, dtype=torch.long).clamp(max=code_size - 1) + 1
    p = tokens.shape[0]
    prev = torch.cat((tokens.new_full((1,), model.bos_token), tokens[:-1]))[None]
    steps = torch.arange(p, device=device)[None]
    x_ling = model.encode(ph_ref.to(device)[None], tone_ref.to(device)[None])
    out, keys, values = model.decode(model.step_input(prev, x_ling, steps), steps)
    prompt = DurationPrompt(keys=keys[:, 0], values=values[:, 0], last_token=int(tokens[-1]))
    return prompt, model.head(out)[0]


def build_prompt(model: DurationLM, ph_ref: Tensor, tone_ref: Tensor, dur_ref: Tensor) -> DurationPrompt:
    """The per-voice duration prompt state (see ``prompt_pass``)."""
    return prompt_pass(model, ph_ref, tone_ref, dur_ref)[0]


def _choose(model: DurationLM, out: Tensor, step: int, top_k: int, generator: torch.Generator | None) -> Tensor:
    """Next tokens [B] from fp32 head outputs [B, 1] or [B, V]."""
    config = model.config
    if config.is_regression:
        # The reference embeds the rounded value as the next input; beyond code_size + 1 its table ends.
        tokens = torch.round(out[:, 0]).long().clamp(max=config.dur_code_size + 1)
    elif top_k > 1:
        logits = out / config.infer_temperature
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        probs = torch.softmax(logits.masked_fill(logits < kth, float("-inf")), dim=-1)
        sample_device = generator.device if generator is not None else probs.device
        tokens = torch.multinomial(probs.to(sample_device), 1, generator=generator)[:, 0].to(out.device)
    else:
        tokens = out.argmax(-1)
    return tokens.clamp(min=0 if step == 0 else 1)  # the reference lets only the first step emit 0


def predict_tokens(
    model: DurationLM,
    prompts: Sequence[DurationPrompt],
    segments: Sequence[tuple[Tensor, Tensor]],
    *,
    top_k: int = 1,
    generator: torch.Generator | None = None,
) -> list[Tensor]:
    """Raw duration tokens (frames + 1) per segment, all rows decoded together; row b continues prompt b.

    Rows are right-padded to the longest segment; each row's prompt slots beyond its own length are masked,
    and a row that has finished keeps stepping harmlessly (later steps never reach its earlier outputs).
    """
    if len(prompts) != len(segments):
        raise ValueError("one prompt per segment is required")
    for i, (phones, tones) in enumerate(segments):
        _check_phones(phones, f"segment {i}")
        if phones.shape != tones.shape:
            raise ValueError(f"segment {i}: phones and tones differ in length")
    device = model.code_emb.weight.device
    dtype = model.code_emb.weight.dtype
    rows = len(segments)
    lengths = [int(ph.shape[0]) for ph, _ in segments]
    prompt_lengths = torch.tensor([p.length for p in prompts], device=device)
    p_max, l_max = max(p.length for p in prompts), max(lengths)

    phones = torch.zeros(rows, l_max, dtype=torch.long, device=device)
    tones = torch.zeros_like(phones)
    for b, (ph, tone) in enumerate(segments):
        phones[b, : lengths[b]] = ph.to(device)
        tones[b, : lengths[b]] = tone.to(device)
    x_ling = model.encode(phones, tones)

    n_layers = len(model.layers)
    head_dim = model.config.dur_model_hidden_size // DECODER_HEADS
    shape = (n_layers, rows, DECODER_HEADS, p_max + l_max, head_dim)
    cache = (torch.zeros(shape, device=device, dtype=dtype), torch.zeros(shape, device=device, dtype=dtype))
    cache_mask = torch.zeros(rows, p_max + l_max, dtype=torch.bool, device=device)
    for b, prompt in enumerate(prompts):
        cache[0][:, b, :, : prompt.length] = prompt.keys
        cache[1][:, b, :, : prompt.length] = prompt.values
        cache_mask[b, : prompt.length] = True

    prev = torch.tensor([p.last_token for p in prompts], device=device)
    tokens = torch.zeros(rows, l_max, dtype=torch.long, device=device)
    for step in range(l_max):
        slot = p_max + step
        cache_mask[:, slot] = True
        local = torch.full((rows, 1), step, device=device)
        h = model.step_input(prev[:, None], x_ling[:, step : step + 1], local)
        out, _, _ = model.decode(h, (prompt_lengths + step)[:, None], cache, cache_mask, slot)
        prev = _choose(model, model.head(out)[:, 0], step, top_k, generator)
        tokens[:, step] = prev
    tokens = tokens.cpu()
    return [tokens[b, : lengths[b]] for b in range(rows)]


def postprocess(
    tokens: Tensor,
    phones: Tensor,
    *,
    is_first: bool,
    is_final: bool,
    dur_alpha: float,
    dur_disturb: float,
    generator: torch.Generator | None = None,
    code_size: int = 128,
) -> Tensor:
    """Frames per phone from raw tokens, as the reference's front end: crossfade room or final clamp,
    jitter (×r or ÷r, r = 1 + U·dur_disturb, draws on the CPU: all choices then all ratios), ×dur_alpha,
    pause minimums, the first segment's leading 8 frames, padding to a multiple of 8 frames."""
    dur = (tokens.cpu().long() - 1).clamp(0, code_size - 1)
    if is_final:
        dur[-1] = dur[-1].clamp(*FINAL_LAST_RANGE)
    else:
        dur[-1] += CROSSFADE_FRAMES
    choice = torch.rand(dur.shape, generator=generator) > 0.5
    ratio = 1 + torch.rand(dur.shape, generator=generator) * dur_disturb
    frames = torch.where(choice, dur * ratio, dur / ratio)
    frames = torch.round(frames * dur_alpha).clamp(0, MAX_FRAMES)
    phones = phones.cpu()
    for ids, minimum in (LONG_PAUSES, SHORT_PAUSES):
        pause = torch.isin(phones, torch.tensor(ids))
        frames[pause] = frames[pause].clamp(min=minimum)
    if is_first:
        frames[0] = FIRST_SIL_FRAMES
    frames = frames.long()
    remainder = int(frames.sum()) % FRAMES_MULTIPLE
    if remainder:
        frames[-1] += FRAMES_MULTIPLE - remainder
    return frames


def predict_durations(
    model: DurationLM,
    prompt: DurationPrompt | Sequence[DurationPrompt],
    segments: Sequence[tuple[Tensor, Tensor]],
    *,
    is_first: Sequence[bool],
    is_final: Sequence[bool],
    speed: float | Sequence[float] = 1.0,
    dur_disturb: float = 0.1,
    generator: torch.Generator | None = None,
    top_k: int = 1,
) -> list[Tensor]:
    """Frames (100 Hz) per phone for each (phones, tones) segment, after all post-processing.

    ``prompt``: one for all segments or one per segment. ``speed`` 2.0 is twice as fast (the reference's
    ``dur_alpha`` = 1/speed). ``top_k`` > 1 samples the classifier head (the reference's ``topk_dur``); the
    regression head ignores it. Randomness (jitter, sampling) comes from ``generator`` only (a CPU generator:
    jitter is drawn on the CPU, segment by segment in order, so it does not depend on the batching).
    """
    rows = len(segments)
    prompts = [prompt] * rows if isinstance(prompt, DurationPrompt) else list(prompt)
    speeds = [float(speed)] * rows if isinstance(speed, int | float) else [float(s) for s in speed]
    if not len(prompts) == len(is_first) == len(is_final) == len(speeds) == rows:
        raise ValueError("prompt, is_first, is_final and speed must give one value per segment")
    if any(s <= 0 for s in speeds):
        raise ValueError("speed must be positive")
    tokens = predict_tokens(model, prompts, segments, top_k=top_k, generator=generator)
    return [
        postprocess(
            tok,
            ph,
            is_first=first,
            is_final=final,
            dur_alpha=1.0 / s,
            dur_disturb=dur_disturb,
            generator=generator,
            code_size=model.config.dur_code_size,
        )
        for tok, (ph, _), first, final, s in zip(tokens, segments, is_first, is_final, speeds, strict=True)
    ]


def length_regulate(durations: Tensor) -> Tensor:
    """mel2ph [N]: the 1-based phone index of every frame (phones with 0 frames vanish)."""
    durations = durations.long().cpu()
    return torch.repeat_interleave(torch.arange(1, durations.shape[0] + 1), durations.clamp(min=0))

"""The prompt's phone alignment: aligner tokens → phones, tones, durations and the frame → phone map.

After its start token the aligner writes pairs (phone token, timestamp token), a timestamp being
800 + the phone's end frame (100 Hz), then its end token. A trained model writes clean pairs; a
random or confused one writes anything, so the parser keeps the well-formed pairs, says how much it
kept, and falls back to one silence spanning the prompt when nothing usable is left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from megatts3_server.engines.megatts3.aligner import (
    END_TOKEN,
    MAX_DECODE_STEPS,
    START_TOKEN,
    TIMESTAMP_OFFSET,
    WhisperAligner,
    log_mel,
    resample,
)
from megatts3_server.engines.megatts3.durations import length_regulate
from megatts3_server.engines.megatts3.phones import SIL, TONE_NONE, clamp_phones, split_merged

FRAMES_MULTIPLE = 8  # the reference keeps whole groups of 8 frames (two latents of 4 frames)
PROMPT_SAMPLE_RATE = 24000


@dataclass(frozen=True)
class ReferenceAlignment:
    """1-D LongTensors on the CPU: ``ph``/``tone``/``durations`` [P] with ``durations.sum() == n_frames``,
    ``mel2ph`` [n_frames] (1-based phone index per 100 Hz frame; zero-duration phones get no frame).

    ``valid`` is True when the tokens were a clean alignment (end token reached, every token in a
    well-formed pair, every phone known, timestamps not going back, total within one frame group of
    the audio). ``quality`` is the share of generated tokens used in kept pairs (0 for the fallback);
    ``issues`` names what was wrong.
    """

    ph: torch.Tensor
    tone: torch.Tensor
    durations: torch.Tensor
    mel2ph: torch.Tensor
    n_frames: int
    valid: bool
    quality: float
    issues: tuple[str, ...]


def fit_durations(durations: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Make the durations add up to ``n_frames`` as the reference does: a shortfall goes to the last
    phone; an excess is taken one frame at a time from the phones in order, cycling — skipping phones
    already at zero (the reference would drive them negative)."""
    out = [max(int(d), 0) for d in durations]
    missing = n_frames - sum(out)
    if missing > 0:
        out[-1] += missing
    excess = -missing
    while excess > 0:
        for index, value in enumerate(out):
            if excess == 0:
                break
            if value > 0:
                out[index] -= 1
                excess -= 1
    return torch.tensor(out, dtype=torch.long)


def parse_alignment(tokens: Sequence[int], n_frames: int) -> ReferenceAlignment:
    """Phones and durations from the aligner's generated tokens (with or without the start/end tokens).

    A kept pair is a phone token (< 800, not a start/end token) followed by a timestamp token (≥ 800);
    anything else is skipped. A timestamp earlier than the previous one gives a zero duration.
    """
    issues: list[str] = []
    seq = list(tokens)
    if seq and seq[0] == START_TOKEN:
        seq = seq[1:]
    if END_TOKEN in seq:
        seq = seq[: seq.index(END_TOKEN)]
    else:
        issues.append("no end token")
    phones: list[int] = []
    ends: list[int] = []
    skipped = 0
    backwards = 0
    index = 0
    while index < len(seq):
        token = seq[index]
        is_phone = token < TIMESTAMP_OFFSET and token not in (START_TOKEN, END_TOKEN) and token >= 0
        if is_phone and index + 1 < len(seq) and seq[index + 1] >= TIMESTAMP_OFFSET:
            end = seq[index + 1] - TIMESTAMP_OFFSET
            if ends and end < ends[-1]:
                backwards += 1
                end = ends[-1]
            phones.append(token)
            ends.append(end)
            index += 2
        else:
            skipped += 1
            index += 1
    if skipped:
        issues.append(f"{skipped} tokens outside phone/timestamp pairs")
    if backwards:
        issues.append(f"{backwards} timestamps going back")
    if not phones or n_frames <= 0:
        issues.append("no usable phone: one silence over the whole prompt")
        ph = torch.tensor([SIL])
        durations = torch.tensor([max(n_frames, 0)])
        return ReferenceAlignment(
            ph=ph,
            tone=torch.tensor([TONE_NONE]),
            durations=durations,
            mel2ph=length_regulate(durations),
            n_frames=n_frames,
            valid=False,
            quality=0.0,
            issues=tuple(issues),
        )
    ph, tone = split_merged(torch.tensor(phones))
    ph, unknown = clamp_phones(ph)
    if unknown:
        issues.append(f"{unknown} unknown phones")
    ends_t = torch.tensor(ends)
    raw = torch.diff(ends_t, prepend=torch.zeros(1, dtype=torch.long))
    if abs(int(raw.sum()) - n_frames) >= FRAMES_MULTIPLE:
        issues.append(f"timestamps cover {int(raw.sum())} of {n_frames} frames")
    durations = fit_durations(raw, n_frames)
    return ReferenceAlignment(
        ph=ph,
        tone=tone,
        durations=durations,
        mel2ph=length_regulate(durations),
        n_frames=n_frames,
        valid=not issues,
        quality=2 * len(phones) / max(len(seq), 1),
        issues=tuple(issues),
    )


def prompt_mel(wav_24k: np.ndarray | torch.Tensor, *, device: str | torch.device = "cpu") -> torch.Tensor:
    """The aligner's input for a (padded) 24 kHz prompt: log-mel [1, 80, N], N a multiple of 8."""
    wav = resample(np.asarray(wav_24k, dtype=np.float32), PROMPT_SAMPLE_RATE, 16000)
    mel = log_mel(torch.from_numpy(wav).to(device))
    frames = mel.shape[-1] // FRAMES_MULTIPLE * FRAMES_MULTIPLE
    return mel[None, :, :frames]


def align_reference(
    model: WhisperAligner, wav_24k: np.ndarray, *, max_steps: int = MAX_DECODE_STEPS
) -> ReferenceAlignment:
    """Align a prompt already padded as the reference pads it (see ``voice_prompt.pad_prompt_wav``)."""
    device = next(model.parameters()).device
    mel = prompt_mel(wav_24k, device=device)
    with torch.inference_mode():
        audio = model.embed_audio(mel)
        (tokens,) = model.greedy_decode(audio, max_steps=max_steps)
    return parse_alignment(tokens, mel.shape[-1])

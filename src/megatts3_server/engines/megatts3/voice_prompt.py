"""A MegaTTS3 voice: the reference's alignment, latent and loudness, computed once at upload time.

The reference implementation recomputes all of this for every request (its aligner decoding is the
expensive part); here it becomes numpy arrays stored with the voice, turned back into tensors on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyloudnorm
import torch

from megatts3_server.engines.base import PreparedVoice, VoiceContext
from megatts3_server.errors import InvalidLatentError, InvalidRequestError
from megatts3_server.voices.latent import check_latent_array

# Format of what prepare_voice stores; a voice from another engine or an older format must be re-uploaded.
VOICE_FORMAT = "megatts3/1"
# Zeros the reference appends to every prompt recording before aligning and measuring it.
_TAIL_PADDING = 12000
# The aligner's encoder sees at most 3000 frames (60 s at 50 Hz) and its decoder 768 tokens: keep prompts
# well inside both. The reference documents prompts of a few seconds to ~20 s.
MAX_PROMPT_SECONDS = 30.0
_ARRAY_NAMES = ("latent", "ph_ref", "tone_ref", "dur_ref", "mel2ph_ref")


class VoiceFormatError(InvalidRequestError):
    """The stored voice was not prepared by this engine (another engine or an older format)."""

    code = "voice_not_prepared_for_engine"


def pad_prompt_wav(wav: np.ndarray, win_size: int) -> np.ndarray:
    """Pad as the reference does: up to a length ≡ win_size − 1 (mod win_size), then 12000 zeros."""
    remainder = len(wav) % win_size
    if remainder < win_size - 1:
        wav = np.pad(wav, (0, win_size - 1 - remainder))
    return np.pad(wav, (0, _TAIL_PADDING)).astype(np.float32)


def integrated_loudness(wav: np.ndarray, sample_rate: int) -> float:
    """BS.1770 integrated loudness in LUFS (-inf for silence)."""
    return float(pyloudnorm.Meter(sample_rate).integrated_loudness(wav.astype(np.float64)))


def check_latent(latent: np.ndarray | None, channels: int, needed: int) -> np.ndarray:
    """The prompt latent as [needed, channels] float32, or a clear error about what is wrong with it."""
    if latent is None:
        raise InvalidLatentError(
            "the MegaTTS3 engine needs the reference's WaveVAE latent: upload the .npy that belongs to the "
            "recording as voice_latent (the WaveVAE encoder is not public, so it cannot be computed here)",
            code="latent_required",
        )
    array = check_latent_array(latent)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2 or array.shape[1] != channels:
        raise InvalidLatentError(
            f"voice_latent has shape {latent.shape}; expected (1, T, {channels}) or (T, {channels})"
        )
    if array.shape[0] < needed:
        raise InvalidLatentError(
            f"voice_latent has {array.shape[0]} frames but the recording needs {needed} "
            "(25 per second): is it the latent of this recording?"
        )
    return np.ascontiguousarray(array[:needed])


@dataclass(frozen=True)
class VoicePrompt:
    """A prepared voice as tensors on the engine's device."""

    latent: torch.Tensor  # [Lp, C] float32
    ph_ref: torch.Tensor  # [P] long
    tone_ref: torch.Tensor  # [P] long
    dur_ref: torch.Tensor  # [P] long, frames (100 Hz)
    mel2ph_ref: torch.Tensor  # [N] long, 1-based phone index per frame, N = 4 * Lp
    loudness: float

    @classmethod
    def from_context(cls, voice: VoiceContext, device: torch.device) -> VoicePrompt:
        if voice.meta.get("format") != VOICE_FORMAT or any(name not in voice.arrays for name in _ARRAY_NAMES):
            raise VoiceFormatError(
                f"voice {voice.voice_id!r} was not prepared for the MegaTTS3 engine "
                f"(format {voice.meta.get('format', 'none')!r}); upload its recording and latent again"
            )
        arrays = voice.arrays

        def tensor(name: str, dtype: torch.dtype) -> torch.Tensor:
            # A copy: the arrays are shared, read-only, by every request (service/voice_arrays.py).
            return torch.tensor(np.asarray(arrays[name]), dtype=dtype, device=device)

        return cls(
            latent=tensor("latent", torch.float32),
            ph_ref=tensor("ph_ref", torch.long),
            tone_ref=tensor("tone_ref", torch.long),
            dur_ref=tensor("dur_ref", torch.long),
            mel2ph_ref=tensor("mel2ph_ref", torch.long),
            loudness=float(voice.meta["loudness"]),
        )


def prepared_voice(
    *,
    latent: np.ndarray,
    ph_ref: torch.Tensor,
    tone_ref: torch.Tensor,
    dur_ref: torch.Tensor,
    mel2ph_ref: torch.Tensor,
    loudness: float,
    alignment_valid: bool,
    seconds: float,
) -> PreparedVoice:
    """What the voice store keeps for a MegaTTS3 voice."""
    meta: dict[str, Any] = {
        "format": VOICE_FORMAT,
        "loudness": loudness,
        "phones": int(ph_ref.numel()),
        "alignment_valid": alignment_valid,
    }
    arrays = {
        "latent": latent.astype(np.float32),
        "ph_ref": ph_ref.cpu().numpy().astype(np.int64),
        "tone_ref": tone_ref.cpu().numpy().astype(np.int64),
        "dur_ref": dur_ref.cpu().numpy().astype(np.int64),
        "mel2ph_ref": mel2ph_ref.cpu().numpy().astype(np.int64),
    }
    summary = (
        f"aligned {ph_ref.numel()} phones over {seconds:.1f} s of reference"
        if alignment_valid
        else f"the aligner found no valid phone alignment in {seconds:.1f} s of reference; using it as one pause"
    )
    return PreparedVoice(meta=meta, arrays=arrays, summary=summary)

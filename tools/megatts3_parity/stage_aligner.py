"""Parity stage: our aligner front end against the reference's ``Whisper`` aligner and its ``align`` function.

Both sides load ``<checkpoint_root>/aligner_lm`` (ours through ``load_aligner``, the reference through its
``load_ckpt``; the reference's sizes are fixed, so the folder must hold full-size weights). Compared:
resampling (ours vs librosa), the log-mel (ours vs ``whisper.log_mel_spectrogram``), the encoder output,
decoder logits on a fixed token prefix, greedy tokens (our cached decoding vs the reference's loop of full
recomputes; 768 steps on CUDA, fewer on CPU), and the token parser (the reference's own ``align`` run with
a stand-in model that writes scripted tokens). Run through ``run.py``.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from reference_code import import_reference

from megatts3_server.engines.megatts3.aligner import (
    END_TOKEN,
    START_TOKEN,
    AlignerConfig,
    load_aligner,
    log_mel,
    resample,
)
from megatts3_server.engines.megatts3.alignment import parse_alignment, prompt_mel

FOLDER = "aligner_lm"
CPU_GREEDY_STEPS = 128  # the reference recomputes the whole prefix per token: keep CPU runs short


def _prompt(seed: int) -> np.ndarray:
    """A 3 s speech-like 24 kHz prompt (tones with a syllable envelope plus noise), padded as in §8."""
    rng = np.random.default_rng(seed)
    t = np.arange(72000) / 24000
    voiced = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) / k for k, f in enumerate((140, 280, 420, 1200), 1))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    wav = (0.2 * voiced * envelope + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    pad = 1199 - len(wav) % 1200
    return np.pad(wav, (0, pad + 12000)).astype(np.float32)


class _ScriptedAligner:
    """Stands in for the reference's model inside its ``align``: one-hot logits that spell ``script``."""

    def __init__(self, script: list[int], vocab: int) -> None:
        self.script, self.vocab = script, vocab

    def embed_audio(self, mel: torch.Tensor) -> torch.Tensor:
        return mel

    def logits(self, tokens: torch.Tensor, audio: torch.Tensor, kv_cache: object) -> torch.Tensor:
        out = torch.zeros(1, tokens.shape[1], self.vocab)
        out[0, -1, self.script[tokens.shape[1] - 1]] = 1.0
        return out


def _scripts(n_frames: int) -> dict[str, list[int]]:
    ends = [n_frames // 5, n_frames // 2, n_frames - 10]
    phones = [145, 200 + 6 * 20 + 3, 120, 163]
    exact = [*ends, n_frames]
    excess = [*ends, n_frames + 5]
    return {
        name: [x for ph, end in zip(phones, stamps, strict=True) for x in (ph, 800 + end)] + [END_TOKEN]
        for name, stamps in (("exact", exact), ("shortfall", [*ends, n_frames - 7]), ("excess", excess))
    }


def compare(reference_root: Path, checkpoint_root: Path, device: str, seed: int) -> list[tuple[str, float]]:
    """(name, max |ours − reference|) per compared quantity (token comparisons count mismatches)."""
    import_reference(reference_root)
    import librosa
    import whisper
    from tts.frontend_function import align as reference_align
    from tts.modules.aligner.whisper_small import Whisper
    from tts.modules.ar_dur.commons.nar_tts_modules import LengthRegulator
    from tts.utils.commons.ckpt_utils import load_ckpt

    folder = checkpoint_root / FOLDER
    ours, _ = load_aligner(folder, device=device)
    reference = Whisper()
    load_ckpt(reference, str(folder), "model", silent=True)
    reference = reference.eval().to(device)
    results: list[tuple[str, float]] = []

    wav = _prompt(seed)
    wav16_ref = librosa.resample(wav, orig_sr=24000, target_sr=16000)
    wav16_ours = resample(wav, 24000, 16000)
    results.append(("aligner/resample 24k→16k (ours vs librosa)", float(np.abs(wav16_ours - wav16_ref).max())))
    mel_ref = whisper.log_mel_spectrogram(wav16_ref)
    results.append(
        ("aligner/log-mel, same 16 kHz input", float((log_mel(torch.from_numpy(wav16_ref)) - mel_ref).abs().max()))
    )
    frames = mel_ref.shape[-1] // 8 * 8
    mel_ours = prompt_mel(wav)
    results.append(("aligner/log-mel of the 24 kHz prompt", float((mel_ours - mel_ref[None, :, :frames]).abs().max())))
    results.append(("aligner/frame count", float(abs(mel_ours.shape[-1] - frames))))

    mel = mel_ref[None, :, :frames].to(device)
    with torch.inference_mode():
        audio_ours, audio_ref = ours.embed_audio(mel), reference.embed_audio(mel)
        results.append(("aligner/encoder output", float((audio_ours - audio_ref).abs().max())))
        generator = torch.Generator().manual_seed(seed)
        phones = torch.randint(3, 788, (12,), generator=generator)
        stamps = torch.sort(torch.randint(800, 800 + frames, (12,), generator=generator)).values
        prefix = torch.cat([torch.tensor([START_TOKEN]), torch.stack([phones, stamps], 1).flatten()])[None].to(device)
        logits_ours, logits_ref = ours.decoder(prefix, audio_ref), reference.logits(prefix, audio_ref)
        results.append(("aligner/decoder logits, 25-token prefix", float((logits_ours - logits_ref).abs().max())))
        step_cache = ours.new_cache(audio_ref, prefix.shape[1])
        stepped = torch.stack([ours.decoder.step(prefix[:, i], i, step_cache) for i in range(prefix.shape[1])], 1)
        results.append(("aligner/decoder logits, cached steps", float((stepped - logits_ref).abs().max())))

        steps = 768 if str(device).startswith("cuda") else CPU_GREEDY_STEPS
        (greedy_ours,) = ours.greedy_decode(audio_ours, max_steps=steps)
        tokens = torch.tensor([[START_TOKEN]], device=device)
        for _ in range(steps):  # the reference's loop, without its cast to fp16
            nxt = reference.logits(tokens, audio_ref)[:, -1].argmax(-1, keepdim=True)
            tokens = torch.cat([tokens, nxt], 1)
            if nxt.item() == END_TOKEN:
                break
        greedy_ref = tokens[0, 1:].tolist()
        mismatches = sum(a != b for a, b in zip(greedy_ours, greedy_ref, strict=False))
        mismatches += abs(len(greedy_ours) - len(greedy_ref))
        results.append((f"aligner/greedy tokens, {steps} steps (mismatches)", float(mismatches)))

    # The parser: the reference's align() with a model that writes scripted tokens, against parse_alignment.
    regulator = LengthRegulator()
    for name, script in _scripts(frames).items():
        stand_in = SimpleNamespace(
            sr=24000,
            fm=8,
            device="cpu",
            precision=torch.float32,
            length_regulator=regulator,
            aligner_lm=_ScriptedAligner(script, AlignerConfig.full().n_vocab),
        )
        ph_ref, tone_ref, mel2ph_ref = reference_align(stand_in, wav)
        parsed = parse_alignment([START_TOKEN, *script], prompt_mel(wav).shape[-1])
        difference = max(
            float((parsed.ph - ph_ref[0].long()).abs().max()),
            float((parsed.tone - tone_ref[0].long()).abs().max()),
            float((parsed.mel2ph - mel2ph_ref[0]).abs().max()) if parsed.mel2ph.numel() == mel2ph_ref.shape[1] else 1e9,
        )
        results.append((f"aligner/parse ({name}): ph, tone, mel2ph", difference))
    return results

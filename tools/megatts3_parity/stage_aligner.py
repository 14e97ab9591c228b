"""Parity stage: our aligner front end against the reference's ``Whisper`` aligner and its ``align`` function.

Both sides load ``<checkpoint_root>/aligner_lm`` (ours through ``load_aligner``, the reference through its
``load_ckpt`` into its own classes built at the folder's sizes). Compared:
resampling (ours vs librosa), the log-mel (ours vs ``whisper.log_mel_spectrogram``), the encoder output,
greedy tokens end to end (our cached decoding vs the reference's loop of full recomputes; 768 steps on CUDA,
fewer on CPU; a random-weight tree's aligner is scripted and stops after its 21 tokens), and the token parser
(the reference's own ``align`` run with a stand-in model that writes scripted tokens).

The decoder itself is compared on live random weights of the same sizes (``aligner_decoder``): both
encoders on the prompt, then both decoders teacher-forced on one scripted 129-step sequence, logits at every
step (printed). Run through ``run.py``.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from aligner_decoder import (
    compare_decoders,
    describe_steps,
    live_aligner_weights,
    load_live_weights,
    reference_whisper,
    scripted_inputs,
)
from differences import Row, tensor_row
from reference_code import import_reference

from megatts3_server.engines.megatts3.aligner import (
    END_TOKEN,
    START_TOKEN,
    AlignerConfig,
    WhisperAligner,
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


def compare(reference_root: Path, checkpoint_root: Path, device: str, seed: int) -> list[Row]:
    """One row per compared quantity (token comparisons count mismatches)."""
    import_reference(reference_root)
    import librosa
    import whisper
    from tts.frontend_function import align as reference_align
    from tts.modules.ar_dur.commons.nar_tts_modules import LengthRegulator
    from tts.utils.commons.ckpt_utils import load_ckpt

    folder = checkpoint_root / FOLDER
    ours, config = load_aligner(folder, device=device)
    reference = reference_whisper(config)
    load_ckpt(reference, str(folder), "model", silent=True)
    reference = reference.eval().to(device)

    wav = _prompt(seed)
    wav16_ref = librosa.resample(wav, orig_sr=24000, target_sr=16000)
    wav16_ours = resample(wav, 24000, 16000)
    results = [
        tensor_row(
            "aligner/resample 24k→16k (ours vs librosa)", torch.from_numpy(wav16_ours), torch.from_numpy(wav16_ref)
        )
    ]
    mel_ref = whisper.log_mel_spectrogram(wav16_ref)
    results.append(tensor_row("aligner/log-mel, same 16 kHz input", log_mel(torch.from_numpy(wav16_ref)), mel_ref))
    frames = mel_ref.shape[-1] // 8 * 8
    mel_ours = prompt_mel(wav)
    results.append(tensor_row("aligner/log-mel of the 24 kHz prompt", mel_ours, mel_ref[None, :, :frames]))
    results.append(Row("aligner/frame count", float(abs(mel_ours.shape[-1] - frames))))

    mel = mel_ref[None, :, :frames].to(device)
    with torch.inference_mode():
        audio_ours, audio_ref = ours.embed_audio(mel), reference.embed_audio(mel)
        results.append(tensor_row("aligner/encoder output", audio_ours, audio_ref))
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
        results.append(
            Row(f"aligner/greedy tokens, {len(greedy_ref)} of {steps} steps (mismatches)", float(mismatches))
        )
    results += _compare_live(reference, config, mel, device, seed)

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
        results.append(Row(f"aligner/parse ({name}): ph, tone, mel2ph", difference))
    return results


def _compare_live(
    reference: torch.nn.Module, config: AlignerConfig, mel: torch.Tensor, device: str, seed: int
) -> list[Row]:
    """Both models again with live random weights (``reference`` is reloaded in place): the encoders on the
    prompt, then the decoders teacher-forced on the reference encoder's output; prints the per-step figures."""
    weights = live_aligner_weights(config, seed + 11)
    ours = load_live_weights(WhisperAligner(config), weights).eval().to(device)
    load_live_weights(reference, weights)
    with torch.inference_mode():
        audio_ref = reference.embed_audio(mel)
        rows = [tensor_row("aligner/live encoder output", ours.embed_audio(mel), audio_ref)]
    inputs = scripted_inputs(mel.shape[-1], seed + 12).to(device)
    decoder_rows, per_step = compare_decoders(ours, reference.logits, audio_ref, inputs)
    print(f"aligner live decoder, max |ours − reference| logits per step ({len(per_step)} cached steps):")
    print(describe_steps(per_step))
    return rows + decoder_rows

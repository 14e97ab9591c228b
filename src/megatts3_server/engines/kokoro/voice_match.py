"""Pick the stock voice pack that sounds closest to a reference recording.

Without a cloning model this is the best the embedded engine can do with a reference: compare the
speaking pitch (median F0, which separates most voices) and the average spectral envelope of the
reference with those of each stock voice speaking a fixed sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from megatts3_server.audio.voicing import PERIODIC_STRENGTH, loud_frames, pitch_lags

_MEL_BANDS = 32
# One octave of pitch difference weighs as much as a fully different spectral envelope.
_PITCH_WEIGHT = 1.0


@dataclass(frozen=True)
class VoiceFeatures:
    median_f0: float
    envelope: np.ndarray


def _median_f0(frames: np.ndarray, sample_rate: int) -> float:
    lags, strength = pitch_lags(frames, sample_rate)
    periodic = lags[strength > PERIODIC_STRENGTH]
    return float(sample_rate / np.median(periodic)) if len(periodic) else 0.0


def _mel_matrix(sample_rate: int, fft_size: int) -> np.ndarray:
    def to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    edges_mel = np.linspace(to_mel(np.array(60.0)), to_mel(np.array(min(8000.0, sample_rate / 2))), _MEL_BANDS + 2)
    edges_hz = 700.0 * (10 ** (edges_mel / 2595.0) - 1.0)
    bins = np.fft.rfftfreq(fft_size, 1.0 / sample_rate)
    matrix = np.zeros((_MEL_BANDS, len(bins)))
    for band in range(_MEL_BANDS):
        left, centre, right = edges_hz[band : band + 3]
        rising = (bins - left) / (centre - left)
        falling = (right - bins) / (right - centre)
        matrix[band] = np.clip(np.minimum(rising, falling), 0.0, None)
    return matrix


def voice_features(samples: np.ndarray, sample_rate: int) -> VoiceFeatures:
    """Median F0 (Hz, 0 when unvoiced) and mean-removed log-mel envelope of the voiced frames."""
    frames = loud_frames(samples, sample_rate)
    if len(frames) == 0:
        return VoiceFeatures(0.0, np.zeros(_MEL_BANDS))
    power = np.abs(np.fft.rfft(frames * np.hanning(frames.shape[1]), axis=1)) ** 2
    mel = np.log(power @ _mel_matrix(sample_rate, frames.shape[1]).T + 1e-10).mean(axis=0)
    return VoiceFeatures(_median_f0(frames, sample_rate), mel - mel.mean())


def distance(a: VoiceFeatures, b: VoiceFeatures) -> float:
    """0 for identical voices; grows with pitch (octaves) and envelope (cosine) differences."""
    pitch = abs(np.log2(a.median_f0 / b.median_f0)) if a.median_f0 > 0 and b.median_f0 > 0 else 0.5
    norms = np.linalg.norm(a.envelope) * np.linalg.norm(b.envelope)
    envelope = 1.0 - float(a.envelope @ b.envelope / norms) if norms > 0 else 1.0
    return _PITCH_WEIGHT * float(pitch) + envelope

"""Is there a voice in this audio? Frame energy and periodicity (pitch) measurements."""

from __future__ import annotations

import numpy as np

FRAME_SECONDS = 0.04
F0_RANGE = (60.0, 420.0)
# Normalized autocorrelation at the pitch lag above this counts as a periodic (voiced) frame.
PERIODIC_STRENGTH = 0.4


def frames(samples: np.ndarray, size: int) -> np.ndarray:
    """Cut ``samples`` into consecutive frames of ``size`` (the tail that does not fill one is dropped)."""
    count = len(samples) // size
    return samples[: count * size].reshape(count, size) if count else np.zeros((0, size), samples.dtype)


def loud_frames(samples: np.ndarray, sample_rate: int, relative: float = 0.1) -> np.ndarray:
    """The frames whose RMS is above ``relative`` times the loudest frame's."""
    cut = frames(samples.astype(np.float64), int(FRAME_SECONDS * sample_rate))
    if len(cut) == 0:
        return cut
    energy = np.sqrt(np.mean(cut**2, axis=1))
    return cut[energy > relative * energy.max()] if energy.max() > 0 else cut[:0]


def pitch_lags(frames_: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the lag (samples) of the strongest autocorrelation peak in the speaking F0 range,
    and its strength (normalized autocorrelation, 1 = perfectly periodic)."""
    size = frames_.shape[1]
    spectrum = np.fft.rfft(frames_ * np.hanning(size), n=2 * size, axis=1)
    autocorr = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :size]
    low, high = int(sample_rate / F0_RANGE[1]), int(sample_rate / F0_RANGE[0])
    lags = np.argmax(autocorr[:, low:high], axis=1) + low
    strength = autocorr[np.arange(len(frames_)), lags] / np.maximum(autocorr[:, 0], 1e-12)
    return lags, strength


def voiced_fraction(samples: np.ndarray, sample_rate: int) -> float:
    """Share of the loud frames that are periodic: speech is mostly voiced, noise hardly ever."""
    loud = loud_frames(samples, sample_rate)
    if len(loud) == 0:
        return 0.0
    _, strength = pitch_lags(loud, sample_rate)
    return float(np.mean(strength > PERIODIC_STRENGTH))

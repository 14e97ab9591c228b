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


def _voiced(lags: np.ndarray, strength: np.ndarray, sample_rate: int) -> np.ndarray:
    """Periodic frames whose peak lies inside the F0 range: a peak on its edge is the slope of
    low-frequency noise, not a pitch."""
    low, high = int(sample_rate / F0_RANGE[1]), int(sample_rate / F0_RANGE[0])
    return (strength > PERIODIC_STRENGTH) & (lags > low) & (lags < high - 1)


def voiced_fraction(samples: np.ndarray, sample_rate: int) -> float:
    """Share of the loud frames that are voiced: speech is mostly voiced, noise hardly ever."""
    loud = loud_frames(samples, sample_rate)
    if len(loud) == 0:
        return 0.0
    return float(np.mean(_voiced(*pitch_lags(loud, sample_rate), sample_rate)))


def pitch_continuity(samples: np.ndarray, sample_rate: int) -> float:
    """Share of consecutive loud frames that are both voiced with pitches within 15 % of each other.

    Speech holds a pitch from frame to frame (0.25-0.8 on real recordings); in white, pink or brown
    noise a periodic-looking frame is chance and its neighbour's "pitch" unrelated (below 0.1). Not a
    speech check on its own: a steady tone scores 1 (audio/speech_check.py adds the other cues).
    """
    loud = loud_frames(samples, sample_rate)
    if len(loud) < 2:
        return 0.0
    lags, strength = pitch_lags(loud, sample_rate)
    voiced = _voiced(lags, strength, sample_rate)
    steady = np.abs(np.log(lags[1:] / lags[:-1])) < np.log(1.15)
    return float(np.mean(voiced[1:] & voiced[:-1] & steady))

"""One loudness for every segment of a production (EBU R128 / ITU-R BS.1770 integrated loudness,
pyloudnorm's meter), a true-peak ceiling, and edges that join without clicks.

pyloudnorm and scipy.signal are imported on the first job's first segment, not with the service:
they are 75 MB of resident memory a server that makes no job never needs.
"""

from __future__ import annotations

import math

import numpy as np

# Gains beyond this are not applied: a near-silent segment stays quiet rather than becoming noise.
_MAX_GAIN_DB = 30.0
# BS.1770 gating needs at least one 400 ms block.
_MIN_METERED_SECONDS = 0.4
# Fade at each segment edge: removes the step a cut in the middle of a waveform would click with.
_EDGE_SECONDS = 0.005


def integrated_loudness(samples: np.ndarray, sample_rate: int) -> float:
    """LUFS of a clip; a clip shorter than one gating block is measured as if looped to 0.4 s."""
    if samples.size == 0 or not np.any(samples):
        return -math.inf
    minimum = int(_MIN_METERED_SECONDS * sample_rate) + 1
    metered = np.tile(samples, math.ceil(minimum / samples.size)) if samples.size < minimum else samples
    import pyloudnorm

    return float(pyloudnorm.Meter(sample_rate).integrated_loudness(metered.astype(np.float64)))


def true_peak(samples: np.ndarray) -> float:
    """The 4x oversampled peak (BS.1770 true peak), linear."""
    if samples.size == 0:
        return 0.0
    from scipy.signal import resample_poly

    return float(np.max(np.abs(resample_poly(samples.astype(np.float64), 4, 1))))


def normalize(samples: np.ndarray, sample_rate: int, target_lufs: float, peak_dbtp: float) -> np.ndarray:
    """``samples`` at ``target_lufs`` integrated loudness, lowered further if its true peak would
    exceed ``peak_dbtp``; edges faded over 5 ms."""
    out = samples.astype(np.float32, copy=True)
    loudness = integrated_loudness(out, sample_rate)
    if math.isfinite(loudness):
        gain_db = min(target_lufs - loudness, _MAX_GAIN_DB)
        out *= np.float32(10 ** (gain_db / 20))
        ceiling = 10 ** (peak_dbtp / 20)
        peak = true_peak(out)
        if peak > ceiling:
            out *= np.float32(ceiling / peak)
    edge = min(int(_EDGE_SECONDS * sample_rate), out.size // 2)
    if edge:
        ramp = np.linspace(0.0, 1.0, edge, dtype=np.float32)
        out[:edge] *= ramp
        out[-edge:] *= ramp[::-1]
    return out

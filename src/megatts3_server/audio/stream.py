"""Encoders that turn audio into bytes piece by piece, for responses streamed while synthesis goes on."""

from __future__ import annotations

import contextlib
import struct

import numpy as np

from megatts3_server.audio.encode import AudioFormat, float_frame, open_container, to_pcm16

# RIFF and data sizes of a WAV whose length is unknown when its header is sent: the largest value,
# which players (FFmpeg, browsers, sox) read as "until the end of the stream".
_UNKNOWN_SIZE = 0xFFFFFFFF
# Ogg pages are flushed at least this often (microseconds), or a client would hear nothing until
# FFmpeg's default page of one second or more had filled.
_OGG_PAGE_DURATION_US = "20000"


class StreamEncoder:
    """``encode(samples)`` returns the bytes ready so far; ``finish()`` the rest."""

    def encode(self, samples: np.ndarray) -> bytes:
        raise NotImplementedError

    def finish(self) -> bytes:
        return b""


class _PcmStream(StreamEncoder):
    def encode(self, samples: np.ndarray) -> bytes:
        return to_pcm16(samples).tobytes()


class _WavStream(_PcmStream):
    def __init__(self, sample_rate: int) -> None:
        self._header: bytes | None = wav_stream_header(sample_rate)

    def encode(self, samples: np.ndarray) -> bytes:
        header, self._header = self._header or b"", None
        return header + super().encode(samples)

    def finish(self) -> bytes:
        return self._header or b""


class _Sink:
    """A write-only, unseekable file for FFmpeg's muxer, drained after every write."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


class _FFmpegStream(StreamEncoder):
    def __init__(self, fmt: AudioFormat, sample_rate: int) -> None:
        self._rate = sample_rate
        self._sink = _Sink()
        options = {"page_duration": _OGG_PAGE_DURATION_US} if fmt in (AudioFormat.OGG, AudioFormat.OPUS) else None
        self._stack = contextlib.ExitStack()
        self._container, self._stream = self._stack.enter_context(open_container(self._sink, fmt, sample_rate, options))

    def encode(self, samples: np.ndarray) -> bytes:
        if samples.size:
            for packet in self._stream.encode(float_frame(samples, self._rate)):
                self._container.mux(packet)
        return self._sink.drain()

    def finish(self) -> bytes:
        self._stack.close()
        return self._sink.drain()


def wav_stream_header(sample_rate: int) -> bytes:
    """A 44-byte 16-bit mono WAV header whose sizes say "unknown length"."""
    byte_rate = sample_rate * 2
    return (
        b"RIFF"
        + struct.pack("<I", _UNKNOWN_SIZE)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, byte_rate, 2, 16)
        + b"data"
        + struct.pack("<I", _UNKNOWN_SIZE)
    )


def open_stream_encoder(fmt: AudioFormat, sample_rate: int) -> StreamEncoder:
    """A streaming encoder for ``fmt`` (every response format streams)."""
    if fmt is AudioFormat.PCM:
        return _PcmStream()
    if fmt is AudioFormat.WAV:
        return _WavStream(sample_rate)
    return _FFmpegStream(fmt, sample_rate)

"""Uploaded audio bytes -> float32 mono samples, with the container recognised from the content."""

from __future__ import annotations

import io
import logging
from collections.abc import Collection
from dataclasses import dataclass

import av
import numpy as np

from megatts3_server.errors import AudioDecodeError, InvalidRequestError, ServiceError, UnsupportedAudioFormatError

log = logging.getLogger(__name__)

# FFmpeg demuxer name -> the canonical name used in configuration and stored metadata.
_CANONICAL = {
    "wav": "wav",
    "w64": "wav",
    "mp3": "mp3",
    "flac": "flac",
    "mov,mp4,m4a,3gp,3g2,mj2": "m4a",
    "ogg": "ogg",
    "matroska,webm": "webm",
    "aac": "aac",
    "aiff": "aiff",
    "caf": "caf",
}
# Only these demuxers may open an upload: the others include playlist and concat readers that
# fetch further files or URLs named inside the data, which an uploaded file must never trigger.
# The list is wider than what can be accepted so that a real audio file of a refused kind (.au,
# .amr, WavPack...) is answered "unsupported format", not "not audio".
_DEMUXER_WHITELIST = "wav,w64,mp3,flac,mov,ogg,matroska,aac,aiff,caf,au,amr,wv,ape,tta,voc,ac3,eac3,dts"
# Names a configuration may use for a container that has one canonical name.
_ALIASES = {"wave": "wav", "mp4": "m4a", "mov": "m4a", "oga": "ogg", "opus": "ogg", "mka": "webm"}
# A header length within this of the limit is not refused up front: encoder padding and rounding
# make the header differ from the decoded length by a few frames.
_HEADER_SLACK_SECONDS = 1.0
# Decoding this much less than the container declares means the data was cut off.
_TRUNCATION_RATIO = 0.9
_TRUNCATION_MIN_SECONDS = 0.25
# FFmpeg estimates a length from file size / bitrate when a container records none (mp3 without a
# Xing header, raw AAC); such a figure can be far off for VBR audio and proves nothing.
_ESTIMATE_TOLERANCE = 0.05


@dataclass(frozen=True, eq=False)  # eq=False: comparing ndarray fields element-wise has no single truth value
class DecodedAudio:
    """Decoded audio: float32 mono samples in [-1, 1] and where they came from."""

    samples: np.ndarray
    sample_rate: int
    source_format: str

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate


def decode_audio(
    data: bytes,
    *,
    allowed_formats: Collection[str] | None = None,
    target_rate: int | None = None,
    max_seconds: float | None = None,
    label: str = "the reference recording",
) -> DecodedAudio:
    """Decode FFmpeg-readable audio held in memory and downmix it to mono.

    Reads wav, mp3, flac, m4a/mp4/mov (AAC, ALAC), ogg (Opus, Vorbis, FLAC), webm/Matroska, raw AAC,
    aiff and caf. The container is recognised from the content; no file name is involved.

    Args:
        data: the file's bytes.
        allowed_formats: canonical container names to accept (wav, mp3, flac, m4a, ogg, webm, aac,
            aiff, caf; "m4a" covers mp4/mov/m4a, "ogg" any codec in Ogg). ``None`` accepts all.
        target_rate: resample to this rate; ``None`` keeps the file's rate.
        max_seconds: refuse longer audio, from the header where it records a length, otherwise as
            soon as decoding passes the limit, so an over-long upload is never decoded in full.
        label: what to call the input in error messages (the request field it came from).

    Raises:
        AudioDecodeError: not audio, corrupt, cut off (where the container records its length:
            mp3 with a Xing/Info header, flac, m4a, webm; a cut-off wav or ogg decodes as the
            shorter audio it holds), or no samples at all.
        UnsupportedAudioFormatError: the container is not in ``allowed_formats``.
        InvalidRequestError: code ``audio_too_long`` when longer than ``max_seconds``.
    """
    try:
        return _decode(data, allowed_formats, target_rate, max_seconds, label)
    except ServiceError:
        raise
    except Exception as exc:
        # Whatever else FFmpeg or PyAV raise on these bytes (they parse untrusted data) says the same:
        # this is not audio the service can read. It is the uploader's problem, not a server fault.
        log.info("undecodable upload (%s: %s)", type(exc).__name__, exc)
        raise AudioDecodeError(f"{label} is not decodable audio ({type(exc).__name__})") from exc


def _decode(
    data: bytes,
    allowed_formats: Collection[str] | None,
    target_rate: int | None,
    max_seconds: float | None,
    label: str,
) -> DecodedAudio:
    try:
        container = av.open(io.BytesIO(data), options={"format_whitelist": _DEMUXER_WHITELIST})
    except av.FFmpegError as exc:
        raise AudioDecodeError(f"{label} is not decodable audio (ffmpeg: {_reason(exc)})") from exc
    with container:
        if not container.streams.audio:
            raise AudioDecodeError(f"{label} contains no audio stream")
        stream = container.streams.audio[0]
        if stream.codec_context is None:
            raise AudioDecodeError(
                f"{label} is in a codec FFmpeg cannot decode (a WAV with a bad bits-per-sample or format tag?)",
                code="unsupported_codec",
            )
        source_format = canonical_format(container.format.name)
        _check_allowed(source_format, allowed_formats, label)
        declared = _declared_seconds(container, stream, len(data))
        if max_seconds is not None and declared is not None and declared > max_seconds + _HEADER_SLACK_SECONDS:
            raise _too_long(label, max_seconds, f"{declared:.1f} s")
        samples, rate = _decode_stream(container, stream, target_rate, max_seconds, label)
    if samples.size == 0:
        raise AudioDecodeError(f"{label} contains no audio samples")
    decoded_seconds = samples.size / rate
    if declared is not None and decoded_seconds < min(declared * _TRUNCATION_RATIO, declared - _TRUNCATION_MIN_SECONDS):
        raise AudioDecodeError(
            f"{label} is cut off: its header says {declared:.2f} s but only {decoded_seconds:.2f} s decode"
        )
    return DecodedAudio(samples=_clean(samples), sample_rate=rate, source_format=source_format)


def canonical_format(demuxer_name: str) -> str:
    """The canonical container name for an FFmpeg demuxer name ("mov,mp4,m4a,..." -> "m4a")."""
    return _CANONICAL.get(demuxer_name, demuxer_name.split(",")[0])


def _check_allowed(source_format: str, allowed_formats: Collection[str] | None, label: str) -> None:
    if allowed_formats is None:
        return
    allowed = {_ALIASES.get(name.lower(), name.lower()) for name in allowed_formats}
    if source_format not in allowed:
        accepted = ", ".join(sorted(allowed))
        raise UnsupportedAudioFormatError(
            f"{label} is {source_format} audio; accepted formats are {accepted}",
            details={"detected": source_format, "accepted": sorted(allowed)},
        )


def _declared_seconds(container: av.container.InputContainer, stream: av.AudioStream, size: int) -> float | None:
    """The length the container records, or None when it records none or FFmpeg only guessed it."""
    if container.duration is None or container.duration <= 0:
        return None
    declared = container.duration / av.time_base
    if stream.bit_rate:
        guessed = size * 8 / stream.bit_rate
        if abs(declared - guessed) <= _ESTIMATE_TOLERANCE * declared:
            return None
    return declared


def _decode_stream(
    container: av.container.InputContainer,
    stream: av.AudioStream,
    target_rate: int | None,
    max_seconds: float | None,
    label: str,
) -> tuple[np.ndarray, int]:
    rate = target_rate or stream.rate
    if not rate or rate <= 0:
        raise AudioDecodeError(f"{label} does not say its sample rate")
    # The resampler also converts any channel layout to mono, mixing the channels down.
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    limit = None if max_seconds is None else int(max_seconds * rate)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
                total += out.samples
            if limit is not None and total > limit:
                raise _too_long(label, max_seconds, f"more than {max_seconds:g} s")
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    except av.FFmpegError as exc:
        raise AudioDecodeError(f"{label} is not decodable audio (ffmpeg: {_reason(exc)})") from exc
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if limit is not None and samples.size > limit:
        raise _too_long(label, max_seconds, f"{samples.size / rate:.1f} s")
    return samples, rate


def _clean(samples: np.ndarray) -> np.ndarray:
    """Float formats can carry NaN/inf and peaks past full scale; the contract is finite values in [-1, 1]."""
    samples = np.nan_to_num(samples.astype(np.float32, copy=False), nan=0.0, posinf=1.0, neginf=-1.0)
    peak = float(np.max(np.abs(samples)))
    # Scaling keeps the waveform of an over-full float file where clipping would distort it.
    return samples / peak if peak > 1.0 else samples


def _too_long(label: str, max_seconds: float | None, length: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"{label} is {length} long; the limit is {max_seconds:g} s",
        code="audio_too_long",
        details={"max_seconds": max_seconds},
    )


def _reason(exc: av.FFmpegError) -> str:
    """FFmpeg's own wording, without the errno and placeholder file name PyAV adds."""
    return (exc.strerror or str(exc)).strip()

"""Audio decode, effects and encode, checked on synthetic signals with known properties."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from megatts3_server.audio import (
    AudioFormat,
    change_pitch,
    decode_audio,
    encode_audio,
    join_with_pauses,
    limit_peak,
    parse_format,
    trim_silence,
    write_wav,
)
from megatts3_server.errors import (
    AudioDecodeError,
    InvalidRequestError,
    UnsupportedAudioFormatError,
    UnsupportedFormatError,
)
from tests.support.audio import decode, encode, median_f0

RATE = 24_000


def _tone(freq: float, seconds: float, rate: int = RATE, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    # Harmonics make the pitch estimate robust, as in a voice.
    wave = sum(np.sin(2 * np.pi * freq * k * t) / k for k in (1, 2, 3))
    return (level * wave / np.max(np.abs(wave))).astype(np.float32)


@pytest.mark.parametrize("container", ["wav", "mp3", "flac", "m4a", "ogg"])
def test_decode_reads_each_container_at_the_asked_rate(container: str) -> None:
    tone = _tone(200, 2.0, rate=16_000)
    decoded = decode_audio(encode(tone, 16_000, container), target_rate=RATE)
    assert decoded.sample_rate == RATE
    assert decoded.source_format == container
    # AAC adds up to two frames of encoder delay and padding (0.13 s at 16 kHz).
    assert decoded.duration == pytest.approx(2.0, abs=0.13)
    assert median_f0(decoded.samples, RATE) == pytest.approx(200, rel=0.05)


def test_decode_downmixes_stereo() -> None:
    import io

    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=RATE, layout="stereo")
        left = (_tone(200, 1.0) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.stack([left, left]).T.reshape(1, -1).copy(), format="s16", layout="stereo"
        )
        frame.sample_rate = RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    decoded = decode_audio(buffer.getvalue())
    assert decoded.samples.ndim == 1
    assert decoded.duration == pytest.approx(1.0, abs=0.01)


def test_decode_refuses_what_is_not_audio() -> None:
    with pytest.raises(AudioDecodeError):
        decode_audio(b"this is a text file, not audio at all" * 10)
    with pytest.raises(AudioDecodeError):
        decode_audio(b"")


def _wav_with_header(format_tag: int, bits: int, data: bytes, channels: int = 1, rate: int = 16_000) -> bytes:
    block = channels * max(bits, 8) // 8
    fmt = struct.pack("<HHIIHH", format_tag, channels, rate, rate * block, block, bits)
    chunks = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(chunks)) + chunks


@pytest.mark.parametrize(
    ("format_tag", "bits"),
    [(1, 0), (3, 16), (0x1234, 16), (0xFFFE, 16), (0x55, 16), (2, 4), (1, 64)],
    ids=["pcm-0-bits", "float-tag-16-bits", "unknown-tag", "extensible-no-extension", "mp3-tag", "adpcm", "pcm-64"],
)
def test_a_wav_header_ffmpeg_cannot_decode_is_refused_as_audio(format_tag: int, bits: int) -> None:
    data = (np.sin(np.arange(16_000) * 0.1) * 10_000).astype("<i2").tobytes()
    try:
        decoded = decode_audio(_wav_with_header(format_tag, bits, data))
    except AudioDecodeError as refused:
        assert refused.status == 415 and "pickled" not in refused.message
    else:  # FFmpeg may read an odd header somehow: then as audio, finite and in range
        assert np.isfinite(decoded.samples).all() and np.abs(decoded.samples).max() <= 1.0


def test_decode_refuses_a_cut_off_file() -> None:
    flac = encode(_tone(200, 3.0), RATE, "flac")
    with pytest.raises(AudioDecodeError):
        decode_audio(flac[: len(flac) // 3])
    mp3 = encode(_tone(200, 3.0), RATE, "mp3")
    with pytest.raises(AudioDecodeError):
        decode_audio(mp3[: len(mp3) // 3])


def test_decode_refuses_formats_not_allowed_and_long_audio() -> None:
    mp3 = encode(_tone(200, 3.0), RATE, "mp3")
    with pytest.raises(UnsupportedAudioFormatError):
        decode_audio(mp3, allowed_formats=["wav", "flac"])
    with pytest.raises(InvalidRequestError) as error:
        decode_audio(encode(_tone(200, 3.0), RATE, "wav"), max_seconds=1.0)
    assert error.value.code == "audio_too_long"


def test_wav_round_trips_and_pcm_is_the_wav_without_header() -> None:
    tone = _tone(300, 0.5)
    wav = write_wav(tone, RATE)
    assert wav[:4] == b"RIFF" and len(wav) == 44 + 2 * tone.size
    assert encode_audio(tone, RATE, AudioFormat.PCM) == wav[44:]
    samples, rate = decode(wav)
    assert rate == RATE
    assert np.max(np.abs(samples - tone)) < 1e-3


@pytest.mark.parametrize("fmt", [AudioFormat.MP3, AudioFormat.FLAC, AudioFormat.OGG])
def test_compressed_encodings_keep_length_and_pitch(fmt: AudioFormat) -> None:
    tone = _tone(220, 2.0)
    samples, rate = decode(encode_audio(tone, RATE, fmt))
    assert len(samples) / rate == pytest.approx(2.0, abs=0.08)
    assert median_f0(samples, rate) == pytest.approx(220, rel=0.05)


def test_parse_format_names_what_is_offered() -> None:
    assert parse_format(" MP3 ") is AudioFormat.MP3
    with pytest.raises(UnsupportedFormatError, match="wav"):
        parse_format("aiff")


@pytest.mark.parametrize("factor", [0.7, 1.5])
def test_change_pitch_moves_f0_and_keeps_duration(factor: float) -> None:
    tone = _tone(200, 2.0)
    shifted = change_pitch(tone, RATE, factor)
    assert shifted.size == tone.size
    assert median_f0(shifted, RATE) == pytest.approx(200 * factor, rel=0.06)


def test_trim_silence_keeps_the_voiced_part_with_a_margin() -> None:
    tone = _tone(200, 1.0)
    padded = np.concatenate([np.zeros(RATE), tone, np.zeros(RATE // 2)]).astype(np.float32)
    trimmed = trim_silence(padded, RATE)
    assert tone.size <= trimmed.size <= tone.size + int(0.1 * RATE)
    assert trim_silence(np.zeros(RATE, np.float32), RATE).size == 0


def test_join_with_pauses_inserts_the_silences() -> None:
    a, b = _tone(200, 0.5), _tone(300, 0.5)
    joined = join_with_pauses([a, b], [0.25, 0.0], RATE)
    assert joined.size == a.size + b.size + RATE // 4
    assert np.all(joined[a.size : a.size + RATE // 4] == 0)
    with pytest.raises(ValueError):
        join_with_pauses([a], [0.1, 0.2], RATE)


def test_limit_peak_only_scales_down_what_would_clip() -> None:
    quiet = _tone(200, 0.2, level=0.3)
    assert np.array_equal(limit_peak(quiet), quiet)
    assert np.max(np.abs(limit_peak(quiet * 5))) == pytest.approx(0.98, abs=1e-4)

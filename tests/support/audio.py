"""Independent audio helpers for the tests (PyAV directly, not the code under test)."""

from __future__ import annotations

import io

import av
import numpy as np

# container -> (PyAV format name, codec); m4a is AAC in an MP4 container.
CONTAINERS = {
    "wav": ("wav", "pcm_s16le"),
    "mp3": ("mp3", "libmp3lame"),
    "flac": ("flac", "flac"),
    "m4a": ("ipod", "aac"),
    "ogg": ("ogg", "libopus"),
}


def encode(samples: np.ndarray, sample_rate: int, container: str) -> bytes:
    """Encode float32 mono samples into ``container`` with PyAV."""
    fmt, codec = CONTAINERS[container]
    rate = 48000 if codec == "libopus" else sample_rate
    if rate != sample_rate:
        positions = np.arange(0, len(samples), sample_rate / rate)
        samples = np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)
    return encode_as(samples, rate, fmt, codec)


def encode_as(samples: np.ndarray, rate: int, fmt: str, codec: str) -> bytes:
    """Encode float32 mono samples at ``rate`` with any PyAV format and codec (also ones the service refuses)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        for start in range(0, len(pcm), 4096):
            frame = av.AudioFrame.from_ndarray(pcm[None, start : start + 4096], format="s16", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def decode(data: bytes) -> tuple[np.ndarray, int]:
    """Decode any audio to float32 mono samples and its sample rate."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=stream.rate)
        chunks = [
            out.to_ndarray().reshape(-1) for frame in container.decode(stream) for out in resampler.resample(frame)
        ]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
        return np.concatenate(chunks), stream.rate


def median_f0(samples: np.ndarray, sample_rate: int) -> float:
    """Median fundamental frequency of the clearly voiced 40 ms frames (autocorrelation)."""
    size = int(0.04 * sample_rate)
    frames = samples[: len(samples) // size * size].reshape(-1, size).astype(np.float64)
    energy = np.sqrt((frames**2).mean(axis=1))
    frames = frames[energy > 0.2 * energy.max()]
    spectrum = np.fft.rfft(frames * np.hanning(size), n=2 * size, axis=1)
    autocorr = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :size]
    low, high = sample_rate // 500, sample_rate // 60
    lags = autocorr[:, low:high].argmax(axis=1) + low
    strength = autocorr[np.arange(len(frames)), lags] / autocorr[:, 0]
    return float(sample_rate / np.median(lags[strength > 0.5]))

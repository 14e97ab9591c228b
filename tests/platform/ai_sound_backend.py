"""The calls AI-Sound's backend makes to its engine, written out field for field.

They mirror platform/backend/app/tts_client.py (MegaTTS3Client.health_check and synthesize_speech)
of the public SunguochaoYeepay/AI-Sound repository, and its callers: app/api/v1/tts.py (preview),
app/voice_clone.py (clone sample; the 3x3x3 parameter grid), app/novel_reader.py (a novel, one
segment after another). Written anew here, not copied: only what goes over the wire is the same.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# tts_client.py: aiohttp.ClientTimeout(total=300, connect=30, sock_read=180).
TIMEOUT = httpx.Timeout(300, connect=30, read=180)


@dataclass
class Call:
    what: str
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class AISoundBackend:
    base_url: str
    calls: list[Call] = field(default_factory=list)

    def health_gate(self) -> bool:
        """health_check(): healthy when GET /health is HTTP 200 and JSON; then it synthesizes at once."""
        response = httpx.get(f"{self.base_url}/health", timeout=TIMEOUT)
        if response.status_code != 200:
            return False
        response.json()
        return True

    def synthesize(
        self,
        what: str,
        text: str,
        reference: Path,
        latent: Path | None = None,
        time_step: float = 32,
        p_weight: float = 1.4,
        t_weight: float = 3.0,
    ) -> Call:
        """synthesize_speech(): one multipart POST, fields in its order, numbers as str(), the
        reference named by its basename and sent as audio/wav whatever it is; no auth header.
        Any non-200 is a failure and is not retried (only network errors are)."""
        fields: list[tuple[str, tuple[str | None, bytes | str, str | None]]] = [
            ("text", (None, text, None)),
            ("time_step", (None, str(time_step), None)),
            ("p_w", (None, str(p_weight), None)),
            ("t_w", (None, str(t_weight), None)),
            ("audio_file", (reference.name, reference.read_bytes(), "audio/wav")),
        ]
        if latent is not None and latent.exists():
            fields.append(("latent_file", (latent.name, latent.read_bytes(), "application/octet-stream")))
        with httpx.Client(timeout=TIMEOUT) as http:
            response = http.post(f"{self.base_url}/api/v1/tts/synthesize_file", files=fields)
        call = Call(what, response.status_code, response.content, dict(response.headers))
        self.calls.append(call)
        return call


def read_wav_like_pydub(data: bytes) -> tuple[int, int, int, int]:
    """(sample_rate, channels, sample_width, frames) of a PCM WAV, read chunk by chunk as pydub's
    AudioSegment.from_wav does before the platform merges segments; ValueError if it would fail."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    position, fmt = 12, None
    while position + 8 <= len(data):
        chunk, size = data[position : position + 4], struct.unpack("<I", data[position + 4 : position + 8])[0]
        body = position + 8
        if chunk == b"fmt ":
            audio_format, channels, rate, _, align, bits = struct.unpack("<HHIIHH", data[body : body + 16])
            if audio_format not in (1, 0xFFFE):
                raise ValueError(f"unsupported WAV format {audio_format}")
            fmt = (rate, channels, bits // 8, align)
        elif chunk == b"data":
            if fmt is None:
                raise ValueError("data chunk before fmt chunk")
            if body + size > len(data):
                raise ValueError("data chunk runs past the end of the file")
            rate, channels, width, align = fmt
            return rate, channels, width, size // align
        position = body + size + (size & 1)
    raise ValueError("no data chunk")

"""Audio the client writes to disk: never a truncated file under the name asked for."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

ByteProgress = Callable[[int], None]


@dataclass(frozen=True)
class SavedAudio:
    """What stream_to_file wrote, with what the service said about it."""

    path: Path
    size: int
    format: str
    voice_id: str | None
    voice_used: str | None
    sample_rate: int | None

    @classmethod
    def from_response(cls, path: Path, size: int, fmt: str, response: httpx.Response) -> SavedAudio:
        rate = response.headers.get("X-Sample-Rate")
        return cls(
            path=path,
            size=size,
            format=fmt,
            voice_id=response.headers.get("X-Voice-Id"),
            voice_used=response.headers.get("X-Voice-Used"),
            sample_rate=int(rate) if rate else None,
        )


class AudioFileWriter:
    """Writes chunks to ``<path>.part`` as they arrive and renames it to ``path`` once complete, so a
    broken stream never leaves a truncated file under the name asked for. ``on_progress`` gets the
    bytes written so far after each chunk."""

    def __init__(self, path: str | os.PathLike[str], on_progress: ByteProgress | None = None) -> None:
        self.path = Path(path)
        self._part = self.path.with_name(self.path.name + ".part")
        self._on_progress = on_progress
        self.size = 0

    def __enter__(self) -> AudioFileWriter:
        self._file = self._part.open("wb")
        return self

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self.size += len(chunk)
        if self._on_progress is not None:
            self._on_progress(self.size)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._file.close()
        if exc_type is None:
            self._part.replace(self.path)
        else:
            self._part.unlink(missing_ok=True)

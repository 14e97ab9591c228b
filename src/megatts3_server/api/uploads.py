"""Reading multipart uploads with a size limit, so an oversize file is refused, not buffered."""

from __future__ import annotations

from fastapi import UploadFile

from megatts3_server.errors import PayloadTooLargeError

_CHUNK = 1 << 20


async def read_limited(upload: UploadFile, limit: int, field: str) -> bytes:
    """The upload's bytes; PayloadTooLargeError as soon as more than ``limit`` bytes arrive."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(
                f"{field} is larger than {limit / 1e6:g} MB (storage.max_voice_file_size)", code="file_too_large"
            )
        chunks.append(chunk)
    return b"".join(chunks)

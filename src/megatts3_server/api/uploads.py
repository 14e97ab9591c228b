"""Multipart uploads: one file under either of its names, read with a size limit (refused, not
buffered); form fields that carry JSON."""

from __future__ import annotations

import json
from typing import Literal, overload

from fastapi import UploadFile

from megatts3_server.errors import InvalidRequestError, PayloadTooLargeError

_CHUNK = 1 << 20


class NamedUpload:
    """An upload with the form field name it came under (named in errors)."""

    def __init__(self, field: str, upload: UploadFile) -> None:
        self.field = field
        self.upload = upload


@overload
def one_of(fields: dict[str, UploadFile | None], *, required: Literal[True]) -> NamedUpload: ...
@overload
def one_of(fields: dict[str, UploadFile | None], *, required: Literal[False]) -> NamedUpload | None: ...
def one_of(fields: dict[str, UploadFile | None], *, required: bool) -> NamedUpload | None:
    """The one file sent under any of ``fields``' names (aliases of one field): 422 when both are
    sent, or when none is and the file is required."""
    given = [NamedUpload(name, upload) for name, upload in fields.items() if upload is not None]
    names = " or ".join(fields)
    if len(given) > 1:
        raise InvalidRequestError(
            f"send the file as {names}, not both (they are two names of one field)", code="conflicting_fields"
        )
    if not given:
        if required:
            raise InvalidRequestError(
                f"{names}: field required (the reference recording)",
                code="missing_file",
                details=[{"field": name, "problem": "Field required"} for name in fields],
            )
        return None
    return given[0]


async def read_limited(named: NamedUpload, limit: int) -> bytes:
    """The upload's bytes; PayloadTooLargeError as soon as more than ``limit`` bytes arrive."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await named.upload.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(
                f"{named.field} is larger than {limit / 1e6:g} MB (storage.max_voice_file_size)", code="file_too_large"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def lexicon_form_field(value: str | None) -> dict[str, str] | None:
    """The ``lexicon`` form field: a JSON object word -> reading (422 ``invalid_lexicon`` if it is not one)."""
    if value is None or not value.strip():
        return None
    try:
        entries = json.loads(value)
    except ValueError:
        entries = None
    if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
        raise InvalidRequestError(
            'lexicon must be a JSON object mapping each word to its reading, as {"重庆": "chong2 qing4"}',
            code="invalid_lexicon",
        )
    return entries

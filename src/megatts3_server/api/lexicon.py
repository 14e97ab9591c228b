"""The global lexicon: list its entries, add or replace some, remove one (text/pronunciation.py
says what a reading is)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Response

from megatts3_server.api.dependencies import Services, get_services
from megatts3_server.api.schemas import LexiconEntryIn, LexiconPutIn
from megatts3_server.api.security import GUARDS
from megatts3_server.service.lexicon import LexiconEntry

router = APIRouter(prefix="/api/v1/lexicon", tags=["lexicon"], dependencies=GUARDS)


@router.get("", summary="Every global lexicon entry: word, reading and source (file or api)")
async def list_entries(services: Services = Depends(get_services)) -> Response:
    return await _entries_response(await services.lexicon.entries())


@router.put("", summary="Add or replace entries (all checked first: none stored if one is bad)")
async def put_entries(body: LexiconPutIn, services: Services = Depends(get_services)) -> Response:
    return await _entries_response(await services.lexicon.put(body.entries))


# Entries encoded by one json.dumps call: each call holds the GIL for its whole run (the event loop's
# thread with it), so a large lexicon is encoded a slice at a time.
_ENCODED_AT_ONCE = 1000


# The last listing rendered, by the list's identity: the service hands out the same list for as long as
# the lexicon is unchanged, so a repeated GET sends the same bytes without encoding them again.
_rendered: tuple[list[LexiconEntry], bytes] | None = None


async def _entries_response(entries: list[LexiconEntry]) -> Response:
    """{"entries": [...]} rendered in a worker thread: 100,000 entries are a second of JSON encoding."""
    global _rendered

    def render() -> bytes:
        slices = [
            json.dumps([vars(entry) for entry in entries[start : start + _ENCODED_AT_ONCE]], ensure_ascii=False)
            for start in range(0, len(entries), _ENCODED_AT_ONCE)
        ]
        return ('{"entries":[' + ",".join(part[1:-1] for part in slices) + "]}").encode()

    cached = _rendered
    if cached is not None and cached[0] is entries:
        body = cached[1]
    else:
        body = await anyio.to_thread.run_sync(render)
        _rendered = (entries, body)
    return Response(body, media_type="application/json")


@router.put("/{word}", summary="Add or replace one entry")
async def put_entry(word: str, body: LexiconEntryIn, services: Services = Depends(get_services)) -> dict[str, Any]:
    (entry,) = await services.lexicon.put({word: body.reading})
    return asdict(entry)


@router.delete("/{word}", status_code=204, summary="Remove a stored entry")
async def delete_entry(word: str, services: Services = Depends(get_services)) -> Response:
    await services.lexicon.delete(word)
    return Response(status_code=204)

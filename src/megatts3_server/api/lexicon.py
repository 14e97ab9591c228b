"""The lexicon: list its entries, add or replace some, remove one (text/pronunciation.py says what a
reading is). Stored entries are the caller's tenant's; an admin manages the shared ones, or names
another tenant with ``owner`` (service/lexicon.py)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Query, Response

from megatts3_server.api.dependencies import Services, get_services
from megatts3_server.api.schemas import LexiconEntryIn, LexiconPutIn
from megatts3_server.api.security import GUARDS, current_caller
from megatts3_server.service.lexicon import LexiconEntry
from megatts3_server.tenancy import Caller

router = APIRouter(prefix="/api/v1/lexicon", tags=["lexicon"], dependencies=GUARDS)

_OWNER = Query(
    None, min_length=1, max_length=200, description="Admins only: the tenant whose entries to read or change"
)


@router.get("", summary="Every entry the caller's requests read: word, reading and source (file, shared or api)")
async def list_entries(
    owner: str | None = _OWNER, services: Services = Depends(get_services), caller: Caller = Depends(current_caller)
) -> Response:
    return await _entries_response(await services.lexicon.entries(caller, owner))


@router.put("", summary="Add or replace entries (all checked first: none stored if one is bad)")
async def put_entries(
    body: LexiconPutIn,
    owner: str | None = _OWNER,
    services: Services = Depends(get_services),
    caller: Caller = Depends(current_caller),
) -> Response:
    return await _entries_response(await services.lexicon.put(body.entries, caller, owner))


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
async def put_entry(
    word: str,
    body: LexiconEntryIn,
    owner: str | None = _OWNER,
    services: Services = Depends(get_services),
    caller: Caller = Depends(current_caller),
) -> dict[str, Any]:
    (entry,) = await services.lexicon.put({word: body.reading}, caller, owner)
    return asdict(entry)


@router.delete("/{word}", status_code=204, summary="Remove a stored entry")
async def delete_entry(
    word: str,
    owner: str | None = _OWNER,
    services: Services = Depends(get_services),
    caller: Caller = Depends(current_caller),
) -> Response:
    await services.lexicon.delete(word, caller, owner)
    return Response(status_code=204)

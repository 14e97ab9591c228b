"""The lexicon: list its entries, add or replace some, remove one (text/pronunciation.py says what a
reading is). Stored entries are the caller's tenant's; an admin manages the shared ones, or names
another tenant with ``owner`` (service/lexicon.py)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from megatts3_server.api.dependencies import Services, get_services
from megatts3_server.api.schemas import LexiconEntryIn, LexiconPutIn
from megatts3_server.api.security import GUARDS, current_caller
from megatts3_server.tenancy import Caller

router = APIRouter(prefix="/api/v1/lexicon", tags=["lexicon"], dependencies=GUARDS)

_OWNER = Query(
    None, min_length=1, max_length=200, description="Admins only: the tenant whose entries to read or change"
)


@router.get("", summary="Every entry the caller's requests read: word, reading and source (file, shared or api)")
async def list_entries(
    owner: str | None = _OWNER, services: Services = Depends(get_services), caller: Caller = Depends(current_caller)
) -> dict[str, Any]:
    return {"entries": [asdict(entry) for entry in await services.lexicon.entries(caller, owner)]}


@router.put("", summary="Add or replace entries (all checked first: none stored if one is bad)")
async def put_entries(
    body: LexiconPutIn,
    owner: str | None = _OWNER,
    services: Services = Depends(get_services),
    caller: Caller = Depends(current_caller),
) -> dict[str, Any]:
    return {"entries": [asdict(entry) for entry in await services.lexicon.put(body.entries, caller, owner)]}


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

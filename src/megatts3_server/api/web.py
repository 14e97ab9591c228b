"""GET / (the web page) and GET /static/{name} (its stylesheet and scripts)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.exceptions import HTTPException

from megatts3_server.web import STATIC_DIR

router = APIRouter(include_in_schema=False)

_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    # Module scripts are refused by browsers unless served with a JavaScript type.
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}

# Everything the page needs comes from this server; audio and waveforms are blob: URLs it makes itself.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Small files that change with each release: revalidate (ETag) rather than serve a stale page.
    "Cache-Control": "no-cache",
}


def _static_file(name: str) -> FileResponse:
    path = STATIC_DIR / name
    media_type = _MEDIA_TYPES.get(path.suffix)
    # Only plain files directly in the folder: a name is one path segment, never "..".
    if media_type is None or path.parent != STATIC_DIR or not path.is_file():
        raise HTTPException(status_code=404, detail=f"no static file {name!r}")
    return FileResponse(path, media_type=media_type, headers=_PAGE_HEADERS)


@router.get("/", name="web_page", summary="The web page: synthesize, pick, upload or record a voice")
async def index() -> FileResponse:
    return _static_file("index.html")


@router.get("/static/{name}", name="web_static", summary="The page's stylesheet and scripts")
async def static_file(name: str) -> FileResponse:
    return _static_file(name)

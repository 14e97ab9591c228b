"""GET / (the web page) and GET /static/{name} (its stylesheet and scripts)."""

from __future__ import annotations

import functools
import hashlib

from fastapi import APIRouter, Request
from fastapi.responses import Response
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


@functools.cache
def _files() -> dict[str, tuple[bytes, str, str]]:
    """The page's files by name: content, media type, ETag (read once; they ship with the package)."""
    files = {}
    for path in STATIC_DIR.iterdir():
        media_type = _MEDIA_TYPES.get(path.suffix)
        if media_type is not None and path.is_file():
            content = path.read_bytes()
            files[path.name] = (content, media_type, f'"{hashlib.sha256(content).hexdigest()[:32]}"')
    return files


def _static_file(name: str, request: Request) -> Response:
    # A name is looked up among the files that exist, never joined into a path: no "..", no OS errors.
    found = _files().get(name)
    if found is None:
        raise HTTPException(status_code=404, detail=f"no static file {name[:100]!r}")
    content, media_type, etag = found
    headers = {**_PAGE_HEADERS, "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    # Whole files only: a Range header is ignored (allowed by RFC 9110), as these files are small.
    return Response(content, media_type=media_type, headers=headers)


@router.get("/", name="web_page", summary="The web page: synthesize, pick, upload or record a voice")
async def index(request: Request) -> Response:
    return _static_file("index.html", request)


@router.get("/static/{name}", name="web_static", summary="The page's stylesheet and scripts")
async def static_file(name: str, request: Request) -> Response:
    return _static_file(name, request)

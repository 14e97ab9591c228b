"""GET /docs (Swagger UI) and GET /redoc (ReDoc), with every script and stylesheet they need served by
this service, so that they work offline: FastAPI's own pages load them from a CDN.

The assets (Swagger UI's bundle and CSS, ReDoc's standalone bundle, a favicon) ship in the
``fastapi-offline`` wheel (MIT; Swagger UI under Apache-2.0, ReDoc under MIT); only its files are used.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs-assets"
_ASSETS_PACKAGE = ("fastapi_offline", "static")

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def _policy(html: str) -> str:
    """A Content-Security-Policy for one docs page: everything from this service, plus the page's own
    inline scripts by hash (Swagger UI starts from one); ReDoc styles inline and searches in a blob: worker."""
    scripts = ["'self'"] + [
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(html)
    ]
    return (
        f"default-src 'self'; script-src {' '.join(scripts)}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
        "base-uri 'self'; frame-ancestors 'none'"
    )


def _page(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = _policy(bytes(page.body).decode())
    page.headers["X-Content-Type-Options"] = "nosniff"
    page.headers["Referrer-Policy"] = "no-referrer"
    return page


router = APIRouter(include_in_schema=False)


def _asset(request: Request, name: str) -> str:
    """An asset's URL, under the prefix a proxy serves the app at (root_path), like the OpenAPI URL."""
    return f"{request.scope.get('root_path', '')}{ASSETS_URL}/{name}"


@router.get(DOCS_URL, name="docs_swagger_ui")
async def swagger_ui(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    return _page(
        get_swagger_ui_html(
            openapi_url=f"{request.scope.get('root_path', '')}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=_asset(request, "swagger-ui-bundle.js"),
            swagger_css_url=_asset(request, "swagger-ui.css"),
            swagger_favicon_url=_asset(request, "favicon.png"),
            swagger_ui_parameters=app.swagger_ui_parameters,
        )
    )


@router.get(REDOC_URL, name="docs_redoc")
async def redoc(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    page = get_redoc_html(
        openapi_url=f"{request.scope.get('root_path', '')}{app.openapi_url}",
        title=f"{app.title} - ReDoc",
        redoc_js_url=_asset(request, "redoc.standalone.js"),
        redoc_favicon_url=_asset(request, "favicon.png"),
        with_google_fonts=False,
    )
    return _page(page)


def install_docs(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets (the app is made with ``docs_url=None, redoc_url=None``)."""
    app.include_router(router)
    app.mount(ASSETS_URL, StaticFiles(packages=[_ASSETS_PACKAGE]), name="docs_assets")

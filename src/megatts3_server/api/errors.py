"""The one place where errors become HTTP responses: {"error": {"code", "message"}}."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from megatts3_server.errors import ServiceError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


class ErrorJSONResponse(JSONResponse):
    """JSON that renders whatever a message quotes: text with a lone surrogate (which UTF-8 cannot
    encode) is sent with ASCII escapes instead of failing the error response itself."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def error_response(
    status: int, code: str, message: str, details: object = None, retry_after: float | None = None
) -> JSONResponse:
    body: dict[str, object] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after is not None else None
    return ErrorJSONResponse({"error": body}, status_code=status, headers=headers)


def _count(request: Request, code: str) -> None:
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.errors.labels(code=code).inc()


def _describe_validation(exc: RequestValidationError) -> tuple[int, str, str, list[dict[str, object]]]:
    problems = []
    for item in exc.errors():
        if item.get("type") == "json_invalid":
            return 400, "invalid_json", f"the request body is not valid JSON: {item.get('msg')}", []
        location = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
        problems.append({"field": location, "problem": item.get("msg", "invalid")})
    message = "; ".join(f"{p['field'] or 'body'}: {p['problem']}" for p in problems) or "invalid request"
    return 422, "invalid_request", message, problems


def install_error_handlers(app: FastAPI) -> None:
    """Map ServiceError, validation and HTTP errors, and anything unexpected, to JSON error bodies."""

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        _count(request, exc.code)
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.retry_after)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, code, message, problems = _describe_validation(exc)
        _count(request, code)
        return error_response(status, code, message, problems or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        _count(request, code)
        return error_response(exc.status_code, code, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Reached only from the outer middleware (UnexpectedErrorMiddleware catches the routes' errors).
        _count(request, "internal_error")
        return unexpected_error_response(request.method, request.url.path)


def unexpected_error_response(method: str, path: str) -> JSONResponse:
    """The 500 for a bug, logged with its traceback: call it from the ``except`` block."""
    log.exception("unexpected error on %s %s", method, path)
    return error_response(500, "internal_error", "the server failed to handle the request; see its log")

"""The services a request handler works with, built once by the app factory."""

from __future__ import annotations

from fastapi import Request

from megatts3_server.service.wiring import Services

__all__ = ["Services", "get_services"]


def get_services(request: Request) -> Services:
    """FastAPI dependency: the app's services (set by create_app)."""
    return request.app.state.services

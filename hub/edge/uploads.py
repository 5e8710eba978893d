"""Routes that take files: a request larger than its files could make is refused (413) before
anything is spooled — by its ``Content-Length`` at once, or as soon as it streams past the limit.

The limit follows the running hub's configuration (a route's own ``max_body_size`` is fixed when
the module loads, before the configuration is known), so each route names a function of the
settings that gives it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import Receive, Scope, Send

from hub.config import Settings

FORM_OVERHEAD_BYTES = 64 * 1024
"""Room in an upload for its text fields and multipart headers, beyond the files themselves."""

UploadLimit = Callable[[Settings], tuple[int, str]]
"""The most bytes a request may carry, and what that allows in words (for the 413 detail)."""

F = TypeVar("F", bound=Callable[..., Any])


def _route_class(limit_of: UploadLimit) -> type[APIRoute]:
    class LimitedUploadRoute(APIRoute):
        async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
            limit, allows = limit_of(scope["app"].state.hub.settings)
            declared = Headers(scope=scope).get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                detail = f"request of {declared} bytes is over the {limit} bytes allowed ({allows})"
                await JSONResponse({"detail": detail}, status.HTTP_413_CONTENT_TOO_LARGE)(scope, receive, send)
                return
            await RequestBodyLimitMiddleware(super().handle, max_body_size=limit)(scope, receive, send)

    return LimitedUploadRoute


def upload_route(target: APIRouter, path: str, limit_of: UploadLimit, **kwargs: Any) -> Callable[[F], F]:
    """Like ``@target.post(path, …)``, with requests over ``limit_of(settings)`` refused unread."""
    route_class = _route_class(limit_of)

    def register(endpoint: F) -> F:
        target.add_api_route(path, endpoint, methods=["POST"], route_class_override=route_class, **kwargs)
        return endpoint

    return register

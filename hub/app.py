"""The app factory: composes routers, dependencies and the lifespan."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import exc as sa_exc

from alerts.clock import Clock
from hub.access.policy import unpoliced
from hub.calls.errors import CallError
from hub.config import Settings
from hub.edge.cors import WhepCorsMiddleware
from hub.edge.deps import HandshakeRefused, authorize, refuse_bad_parameters, refuse_handshake
from hub.edge.metrics import build_registry
from hub.edge.openapi import install as declare_refusals
from hub.incidents.errors import DeskError
from hub.routers import (
    audit,
    auth,
    ca,
    calls,
    cameras,
    directory,
    districtmap,
    events,
    incidents,
    instructions,
    me,
    openalerts,
    ops,
    people,
    reports,
    web,
    whep,
    whip,
    worker,
)
from hub.routers.web import WebGZip
from hub.services import Hub
from hub.store.eventlog import StoreUnavailable

logger = logging.getLogger(__name__)


async def _desk_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DeskError)
    return JSONResponse({"detail": exc.detail, **exc.extra}, status_code=exc.status)


async def _call_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CallError)
    return JSONResponse({"detail": exc.detail, **exc.extra}, status_code=exc.status, headers=exc.headers)


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """503 when the event store cannot be reached: the client may send again (an append that was
    cut off mid-commit says it may be stored; see :class:`hub.store.eventlog.CommitUnknown`)."""
    if isinstance(exc, StoreUnavailable):
        detail = str(exc)
    else:  # a read or a state query could not reach the store
        logger.warning("store unavailable for %s %s: %s", request.method, request.url.path, type(exc).__name__)
        detail = "the event store cannot be reached; nothing was changed"
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "2"})


def _json_safe(value: Any) -> Any:
    """``value`` as JSON can carry it: text with lone surrogates escaped, non-finite numbers as text."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, bytes | bytearray):  # a body that was not JSON at all
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {_json_safe(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """422 naming the fields, like FastAPI's own answer, also when the input cannot be echoed as JSON.

    FastAPI's handler echoes each bad value back; a number like ``1e400`` (infinity) or a lone
    surrogate (``"\\ud800"``) cannot be written as JSON, and the answer became a 500.
    """
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": jsonable_encoder(_json_safe(exc.errors()))}, status_code=422)


def create_app(
    settings: Settings,
    secret: str | None = None,
    clock: Clock | None = None,
    on_started: Callable[[], None] | None = None,
) -> FastAPI:
    """A hub application; its lifespan starts and stops every service.

    ``clock`` is for tests; ``on_started`` runs once every service is up (the server
    process uses it to settle the garbage collector).
    """
    secret = secret or settings.secret_value()
    if not secret:
        raise ValueError("no token secret: set SKYHUB_SECRET")
    hub = Hub(settings, secret, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with hub.running():
            if on_started is not None:
                on_started()
            yield

    app = FastAPI(
        title="skyhub",
        summary="Command-center hub: cameras, events, incidents, calls and instructions.",
        lifespan=lifespan,
        # Swagger UI and ReDoc load their scripts from a CDN onto the hub's own origin: opt-in.
        docs_url="/docs" if settings.server.docs else None,
        redoc_url="/redoc" if settings.server.docs else None,
        # Every route, HTTP or WebSocket, passes the one policy table.
        dependencies=[Depends(authorize)],
    )
    app.state.hub = hub
    app.state.registry = build_registry(hub)
    app.add_exception_handler(DeskError, _desk_error)
    app.add_exception_handler(CallError, _call_error)
    app.add_exception_handler(HandshakeRefused, refuse_handshake)
    app.add_exception_handler(WebSocketRequestValidationError, refuse_bad_parameters)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    for unreachable in (StoreUnavailable, sa_exc.OperationalError, sa_exc.InterfaceError):
        app.add_exception_handler(unreachable, _store_unavailable)
    # Routes are tried in this order, router by router: the busiest first (a wall's snapshot
    # requests, 10 a second, each tried against every route before its own: 0.6 % of a core).
    routers = (
        cameras,
        whep,
        ops,
        auth,
        me,
        openalerts,
        directory,
        districtmap,
        events,
        incidents,
        reports,
        instructions,
        worker,
        people,
        whip,
        calls,
        audit,
        ca,
        web,
    )
    for module in routers:
        app.include_router(module.router)
    app.mount("/web", StaticFiles(directory=web.WEB_DIR), name="web")
    # Wall pages served by the other nodes play the cameras this node ingests (several nodes only).
    app.add_middleware(WhepCorsMiddleware, hub=hub)
    # The pages and their files go gzipped to browsers that take it (a phone on a slow network).
    app.add_middleware(WebGZip)
    declare_refusals(app)
    missing = unpoliced(app.routes)
    if missing:  # fail at build time, not on the first unlucky request
        raise RuntimeError(f"routes without an access policy in hub/access/policy.py: {missing}")
    return app

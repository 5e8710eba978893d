"""Dependencies shared by the routers: the hub's services and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, WebSocketException, status
from starlette.requests import HTTPConnection

from hub.auth import AuthError, Principal
from hub.policy import PUBLIC, allowed
from hub.services import Hub

WS_UNAUTHORIZED = 4401
WS_FORBIDDEN = 4403


def hub_of(conn: HTTPConnection) -> Hub:
    """The running hub's services, for code that has the connection at hand."""
    hub: Hub = conn.app.state.hub
    return hub


async def get_hub(conn: HTTPConnection) -> Hub:
    """Dependency: the running hub's services (async, so FastAPI does not hop to a thread)."""
    return hub_of(conn)


def _token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    if conn.scope["type"] == "websocket":
        return conn.query_params.get("token") or None
    return None


def _refuse(conn: HTTPConnection, code: int, detail: str) -> Exception:
    if conn.scope["type"] == "websocket":
        return WebSocketException(WS_UNAUTHORIZED if code == 401 else WS_FORBIDDEN, detail)
    headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
    return HTTPException(code, detail, headers=headers)


async def authorize(conn: HTTPConnection) -> Principal | None:
    """Apply :data:`hub.policy.POLICY` to this request; every route runs through here."""
    route = conn.scope.get("route")
    path = getattr(route, "path", None)
    method = "WS" if conn.scope["type"] == "websocket" else conn.scope.get("method", "GET")
    roles = allowed("GET" if method == "HEAD" else method, path) if path else None
    if roles is None:
        raise _refuse(conn, status.HTTP_403_FORBIDDEN, "no access policy for this route")
    token = _token(conn)
    if roles is PUBLIC:
        return None
    if token is None:
        raise _refuse(conn, status.HTTP_401_UNAUTHORIZED, "login required")
    try:
        who = hub_of(conn).auth.verify(token)
    except AuthError as exc:
        raise _refuse(conn, status.HTTP_401_UNAUTHORIZED, str(exc)) from None
    if not who.roles & roles:
        raise _refuse(conn, status.HTTP_403_FORBIDDEN, "your role may not use this route")
    conn.state.principal = who
    return who


def principal_of(conn: HTTPConnection) -> Principal:
    """The caller, as verified by :func:`authorize` (which runs first on every route)."""
    who: Principal | None = getattr(conn.state, "principal", None)
    if who is None:
        raise _refuse(conn, status.HTTP_401_UNAUTHORIZED, "login required")
    return who


async def current_principal(conn: HTTPConnection) -> Principal:
    """Dependency: the verified caller."""
    return principal_of(conn)


HubDep = Annotated[Hub, Depends(get_hub)]
CallerDep = Annotated[Principal, Depends(current_principal)]

"""Dependencies shared by the routers: the hub's services and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, WebSocket, status
from fastapi.exceptions import WebSocketRequestValidationError
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection

from hub.access.auth import AuthError, Principal
from hub.access.policy import PUBLIC, allowed
from hub.services import Hub

WS_BAD_REQUEST = 4400
"""Close code when a refused handshake cannot carry an HTTP status (server without the extension)."""


class HandshakeRefused(Exception):
    """A WebSocket refused before it was accepted; answered with a real HTTP status (401, 403, 400…).

    Raised by dependencies; :func:`refuse_handshake`, registered on the app, sends the answer. A
    closed handshake would reach the client as 403 whatever the reason, and a client could not tell
    "log in again" from "not allowed".
    """

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


async def deny_handshake(ws: WebSocket, code: int, detail: str) -> None:
    """Refuse a WebSocket before accepting it: a real HTTP status where the server supports it."""
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(JSONResponse({"detail": detail}, status_code=code))
    else:
        await ws.close(WS_BAD_REQUEST, detail)


async def refuse_handshake(ws: WebSocket, exc: Exception) -> None:
    """Exception handler for :class:`HandshakeRefused` (WebSocket routes only)."""
    assert isinstance(exc, HandshakeRefused)
    await deny_handshake(ws, exc.status_code, exc.detail)


async def refuse_bad_parameters(ws: WebSocket, exc: Exception) -> None:
    """Exception handler for a WebSocket's query that does not validate: 422 naming the parameter,
    as the HTTP routes answer (FastAPI would close the handshake, which reads as a bare 403)."""
    assert isinstance(exc, WebSocketRequestValidationError)
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    await deny_handshake(ws, status.HTTP_422_UNPROCESSABLE_CONTENT, problems)


def hub_of(conn: HTTPConnection) -> Hub:
    """The running hub's services, for code that has the connection at hand."""
    hub: Hub = conn.app.state.hub
    return hub


async def get_hub(conn: HTTPConnection) -> Hub:
    """Dependency: the running hub's services (async, so FastAPI does not hop to a thread)."""
    return hub_of(conn)


def may(who: Principal, method: str, path: str) -> bool:
    """Whether ``who`` may use the route ``method path`` (a path as declared, with its ``{params}``):
    what an answer tells the page about controls it may show."""
    roles = allowed(method, path)
    return roles is not None and (roles == PUBLIC or bool(who.roles & roles))


def client_address(conn: HTTPConnection) -> str:
    """The caller's address (a trusted proxy's forwarded one, see ``server.trusted_proxies``)."""
    return conn.client.host if conn.client else "?"


def _token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    if conn.scope["type"] == "websocket":
        return conn.query_params.get("token") or None
    return None


def _refuse(conn: HTTPConnection, code: int, detail: str) -> Exception:
    if conn.scope["type"] == "websocket":
        return HandshakeRefused(code, detail)
    headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
    return HTTPException(code, detail, headers=headers)


async def authorize(conn: HTTPConnection) -> Principal | None:
    """Apply :data:`hub.access.policy.POLICY` to this request; every route runs through here."""
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


RETRY_UNOWNED_S = 3
"""Retry-After when no node ingests a camera yet (a lease round takes a few seconds)."""


def remote_published(hub: Hub, camera_id: str) -> dict[str, object] | None:
    """A field camera published to another hub node (as its registry entry shows it), or None."""
    local = hub.cameras.get(camera_id) if hub.cameras is not None else None
    if hub.redis is None or (local is not None and getattr(local, "publisher", True) is not None):
        return None
    found = hub.redis.published_elsewhere(camera_id)
    return found[1] if found is not None else None


async def camera_elsewhere(hub: Hub, conn: HTTPConnection, camera_id: str) -> tuple[int, str, dict[str, str]] | None:
    """For a per-camera media route: ``None`` when the camera is ingested here (or there is one node).

    Otherwise ``(status, detail, headers)`` to answer with: 307 to the same path and query on the
    node holding the camera's lease, or 503 when no node holds it yet or Redis cannot say.
    """
    local = hub.cameras.get(camera_id) if hub.cameras is not None else None
    # A field camera whose publisher left this node (listed offline here) may be live on another.
    if local is not None and getattr(local, "publisher", True) is not None:
        return None
    published = hub.redis.published_elsewhere(camera_id) if hub.redis is not None else None
    if published is not None:  # a field camera published to another node
        node, _cam = published
        if not node.get("url"):
            detail = f"camera {camera_id} is published to hub node {node.get('node')}, which published no URL"
            return 503, detail, {"Retry-After": str(RETRY_UNOWNED_S)}
        target = str(node["url"]).rstrip("/") + conn.url.path
        if conn.url.query:
            target += "?" + conn.url.query
        return 307, f"camera {camera_id} is published to hub node {node.get('node')}", {"Location": target}
    leases = hub.leases
    if leases is None or hub.cameras is None or local is not None:
        return None
    if camera_id not in leases.cameras:
        return None  # disabled: every node reports it itself
    try:
        where = await leases.locate(camera_id)
    except Exception as exc:
        return (
            503,
            f"cannot tell which hub node ingests camera {camera_id} (Redis: {type(exc).__name__})",
            {"Retry-After": str(RETRY_UNOWNED_S)},
        )
    if where.owner is None or where.owner == leases.node:
        # Nobody yet, or this node took it a moment ago and is starting it.
        detail = f"no hub node ingests camera {camera_id} yet; retry in a few seconds"
        if where.owner is not None:
            detail = f"camera {camera_id} is starting on this node; retry in a few seconds"
        return 503, detail, {"Retry-After": str(RETRY_UNOWNED_S)}
    if not where.url:
        return (
            503,
            f"camera {camera_id} is ingested by hub node {where.owner}, which published no URL",
            {"Retry-After": str(RETRY_UNOWNED_S)},
        )
    target = where.url + conn.url.path
    if conn.url.query:
        target += "?" + conn.url.query
    return 307, f"camera {camera_id} is ingested by hub node {where.owner}", {"Location": target}

"""Cross-origin live video among the hub nodes of one deployment.

The wall page loaded from one node plays a camera another node ingests by sending its WHEP offer
straight to that node (the camera list gives its ``owner_url``): a browser cannot follow the 307
there, because it drops ``Authorization`` on a cross-origin redirect and cannot read the
``Location`` of one. So the ``/whep/...`` routes answer CORS, but only to pages served by a live
node of this deployment (the node registry's public URLs, this node's own included): never a
wildcard, and a request from any other origin gets no CORS headers at all. With a single node
(no camera leases) nothing here applies, unless ``calls.whep_allow_origins`` names the pages of
WHEP players elsewhere (another site's player, a video-wall controller) that may watch too.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.services import Hub

CALLS_PREFIX = "/api/calls/"
"""A call's own routes (answer, media, floor, hang up): a member whose page another node served
sends them to the node hosting the call (the call's ``url``), so they answer CORS to the pages of
the deployment's live nodes, and to nothing else."""
CALLS_ALLOW_METHODS = "GET, POST, DELETE, OPTIONS"

WHEP_PREFIX = "/whep/"
PREFIXES = (WHEP_PREFIX, "/whip/")
"""Paths that answer CORS: WHEP viewers and WHIP publishers."""
ALLOW_METHODS = "POST, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, If-Match"
EXPOSE_HEADERS = "Location, ETag, Link, Accept-Post, Accept-Patch, Retry-After"
PREFLIGHT_MAX_AGE_S = 600
"""How long a browser may reuse a preflight answer."""


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL, lower-cased as browsers send it in ``Origin``."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def node_origins(hub: Hub) -> frozenset[str] | None:
    """Origins of the live nodes of this deployment, this one's included; ``None`` with one node."""
    leases = hub.leases
    if leases is None:
        return None
    urls = [*leases.node_urls.values(), hub.settings.server.base_url()]
    return frozenset(o for o in map(origin_of, urls) if o is not None)


def cluster_origins(hub: Hub) -> frozenset[str]:
    """Origins of the live nodes in the registry, this one's included (empty with one node)."""
    if hub.redis is None:
        return frozenset()
    urls = [str(p.get("url")) for p in hub.redis.peers if p.get("url")] + [hub.settings.server.base_url()]
    return frozenset(o for o in map(origin_of, urls) if o is not None)


def calls_cors_headers(hub: Hub, origin: str | None, preflight: bool) -> dict[str, str]:
    """The CORS response headers for a request to a call's routes from ``origin``."""
    if hub.redis is None:
        return {}
    headers = {"Vary": "Origin"}
    if origin is None or origin.lower() not in cluster_origins(hub):
        return headers
    headers["Access-Control-Allow-Origin"] = origin
    if preflight:
        headers["Access-Control-Allow-Methods"] = CALLS_ALLOW_METHODS
        headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_S)
    else:
        headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    return headers


def configured_origins(hub: Hub) -> frozenset[str]:
    """Origins allowed by ``calls.whep_allow_origins`` (``"*"`` kept as it is)."""
    given = hub.settings.calls.whep_allow_origins
    return frozenset("*" if o.strip() == "*" else origin_of(o) or "" for o in given) - {""}


def applies(hub: Hub) -> bool:
    """Whether any origin but the page's own may be answered (several nodes, or configured players)."""
    return hub.leases is not None or bool(hub.settings.calls.whep_allow_origins)


def cors_headers(hub: Hub, origin: str | None, preflight: bool) -> dict[str, str]:
    """The CORS response headers for a ``/whep/...`` request from ``origin`` (empty: none apply)."""
    if not applies(hub):
        return {}
    allowed = (node_origins(hub) or frozenset()) | configured_origins(hub)
    headers = {"Vary": "Origin"}  # the answer depends on the Origin: caches must keep them apart
    if origin is None or ("*" not in allowed and origin.lower() not in allowed):
        return headers
    headers["Access-Control-Allow-Origin"] = origin
    if preflight:
        headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_S)
    else:
        headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    return headers


class WhepCorsMiddleware:
    """ASGI middleware: adds :func:`cors_headers` to every ``/whep/...`` response, errors included,
    and :func:`calls_cors_headers` to a call's routes (answering their preflights itself).

    Errors matter too: the wall reads the ``detail`` and ``Retry-After`` of a 503 from another node.
    Who may use the route is still decided by :mod:`hub.access.policy` (the preflight is a public route,
    the offer itself needs a token).
    """

    def __init__(self, app: ASGIApp, hub: Hub) -> None:
        self.app = app
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        calls = path.startswith(CALLS_PREFIX) and self.hub.redis is not None
        if not calls and (not path.startswith(PREFIXES) or not applies(self.hub)):
            await self.app(scope, receive, send)
            return
        request = Headers(scope=scope)
        preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in request
        if calls:
            extra = calls_cors_headers(self.hub, request.get("origin"), preflight)
            if preflight:  # answered here: the call routes have no OPTIONS of their own
                head = [(k.lower().encode(), v.encode()) for k, v in extra.items()]
                await send({"type": "http.response.start", "status": 204, "headers": head})
                await send({"type": "http.response.body", "body": b""})
                return
        else:
            extra = cors_headers(self.hub, request.get("origin"), preflight)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    if name == "Vary":
                        headers.add_vary_header(value)
                    else:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_cors)

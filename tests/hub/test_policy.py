"""Every route the app declares, against every role: the policy table decides, and nothing slips."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from hub.access import policy
from hub.access.policy import DOCS_ROUTES, POLICY, PUBLIC
from hub.config import Role
from tests.hub.conftest import RunningHub, make_settings, serve

PATH_VALUES = {
    "node_id": "g1",
    "camera_id": "cam-g1",
    "incident_id": "1",
    "evidence_id": "1",
    "receipt": "R-AAAAA-BBBBB",
    "instruction_id": "1",
    "attachment_id": "1",
    "template_id": "1",
    "call_id": "no-such-call",
    "session_id": "no-such-session",
    "camera": "cam-g1",
    "camera_id_or_user": "cam-g1",
    "key": "lang",
    "username": "worker2",
    "person_id": "worker1",
}
SELF_CHECKED = {
    ("GET", "/metrics"),
    ("POST", "/whip/{camera_id}"),
    ("PATCH", "/whip/{camera_id}/{session_id}"),
    ("DELETE", "/whip/{camera_id}/{session_id}"),
}
"""Open in the table because the route checks its own callers (staff or a scraper's token, tested
below; a login or a device's publish token, tested in tests/calls/test_whip.py)."""
ENDS_THE_SESSION = {("POST", "/api/auth/logout")}
"""Routes after which the caller's token no longer works: each role gets a fresh one for them."""


def declared_routes(app: Any) -> list[tuple[str, str]]:
    return policy.declared_routes(app.routes)


def fill(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)


async def test_every_declared_route_has_a_policy(running: RunningHub) -> None:
    # create_app refuses to build with an unpoliced route (test below); this checks the built app
    # and that the table has no stale entries for routes that no longer exist.
    routes = declared_routes(running.app)
    assert len(routes) >= 10
    missing = [r for r in routes if r not in POLICY]
    assert not missing, f"routes without an entry in hub/access/policy.py: {missing}"
    stale = sorted(set(POLICY) - set(routes) - DOCS_ROUTES, key=str)
    assert not stale, f"hub/access/policy.py entries for routes the app does not declare: {stale}"


async def test_every_route_against_every_role(running: RunningHub) -> None:
    users = {
        Role.ADMIN: "admin",
        Role.DISPATCHER: "dispatcher",
        Role.COORDINATOR: "coordinator",
        Role.WORKER: "worker1",
        Role.VIEWER: "viewer",
    }
    tokens = {role: await running.token(name) for role, name in users.items()}
    checked = 0
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as c:
        for method, path in declared_routes(running.app):
            allowed = POLICY[(method, path)]
            if method == "MOUNT":
                r = await c.get(path + "/style.css")
                assert r.status_code == 200
                continue
            url = fill(path)
            if (method, path) in SELF_CHECKED:
                continue
            if method == "WS":
                for role, token in [(None, None), *tokens.items()]:
                    ok = allowed is PUBLIC or (role is not None and role in allowed)
                    q = f"?token={token}" if token else ""
                    try:
                        async with websockets.connect(f"ws://127.0.0.1:{running.port}{url}{q}", open_timeout=10) as ws:
                            await ws.close()
                        connected = True
                    except websockets.InvalidStatus as exc:
                        connected = False
                        # No token: "log in"; a token whose role may not: "not allowed".
                        want = 401 if role is None else 403
                        assert exc.response.status_code == want, (path, role, exc.response.status_code)
                    assert connected == ok, (method, path, role)
                    checked += 1
                continue
            # Without a token: public routes answer, the rest say 401.
            r = await c.request(method, url, json={} if method == "POST" else None)
            if allowed is PUBLIC:
                assert r.status_code not in (401, 403), (method, path, r.status_code)
            else:
                assert r.status_code == 401, (method, path, r.status_code)
            for role, token in tokens.items():
                if (method, path) in ENDS_THE_SESSION:
                    token = await running.token(users[role])
                r = await c.request(
                    method, url, json={} if method == "POST" else None, headers={"Authorization": f"Bearer {token}"}
                )
                if allowed is PUBLIC or role in allowed:
                    assert r.status_code != 403 and r.status_code != 401, (method, path, role, r.text)
                else:
                    assert r.status_code == 403, (method, path, role, r.status_code)
                checked += 1
    assert checked > 40


async def test_a_route_without_policy_is_refused_even_with_a_valid_token(running: RunningHub) -> None:
    # Fail closed: were a route to slip past the start-up check, authorize still refuses it, for
    # every role, before looking at the token.
    from fastapi import Depends, FastAPI

    from hub.edge.deps import authorize

    app = FastAPI(dependencies=[Depends(authorize)])
    app.state.hub = running.hub

    @app.get("/api/not-declared")
    async def not_declared() -> dict[str, str]:
        return {"secret": "should never be served"}

    token = await running.token("admin")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as c:
        for headers in ({}, {"Authorization": f"Bearer {token}"}):
            r = await c.get("/api/not-declared", headers=headers)
            assert r.status_code == 403 and r.json() == {"detail": "no access policy for this route"}


def test_a_new_route_without_policy_is_caught() -> None:
    from fastapi import APIRouter, FastAPI

    app = FastAPI()
    r = APIRouter(prefix="/api/new")

    @r.get("/thing")
    async def thing() -> dict[str, str]:
        return {}

    app.include_router(r)
    assert ("GET", "/api/new/thing") in policy.unpoliced(app.routes)
    # create_app runs the same check over the real app: a route added there fails at build time.


async def test_metrics_are_for_staff_or_a_scraper_with_its_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SCRAPE_TOKEN", "scrape-0123456789abcdef")
    async with serve(make_settings(tmp_path, server={"metrics_token_env": "TEST_SCRAPE_TOKEN"})) as rh:
        async with httpx.AsyncClient(base_url=rh.url) as c:
            # Which cameras are offline is not for anyone who asks.
            assert (await c.get("/metrics")).status_code == 401
            assert (await c.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
            scraped = await c.get("/metrics", headers={"Authorization": "Bearer scrape-0123456789abcdef"})
            assert scraped.status_code == 200 and "skyhub_events_appended_total" in scraped.text
        for name, status in (("dispatcher", 200), ("admin", 200), ("worker1", 403), ("viewer", 403)):
            async with await rh.client(name) as c:
                assert (await c.get("/metrics")).status_code == status, name


async def test_the_api_docs_pages_are_off_unless_asked_for(tmp_path: Path) -> None:
    async with serve(make_settings(tmp_path)) as rh, httpx.AsyncClient(base_url=rh.url) as c:
        # Their pages would load Swagger UI from a CDN onto the hub's origin.
        assert (await c.get("/docs")).status_code == 404 and (await c.get("/redoc")).status_code == 404
        assert (await c.get("/openapi.json")).status_code == 200
    async with serve(make_settings(tmp_path, server={"docs": True})) as rh, httpx.AsyncClient(base_url=rh.url) as c:
        assert (await c.get("/docs")).status_code == 200

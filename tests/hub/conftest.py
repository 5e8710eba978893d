"""Fixtures for hub tests: settings from dicts, a real hub server on a loopback port, logins."""

from __future__ import annotations

import asyncio
import copy
import functools
import ssl
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from argon2 import PasswordHasher

from hub.app import create_app
from hub.config import Settings
from hub.edge.serving import uvicorn_options
from hub.edge.tls import local_ca
from tests.conftest import free_port, require_postgres, require_redis, seed_scenes

SECRET = "test-secret-0123456789-abcdefghijklmnop"
PASSWORD = "correct horse battery"
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
"""argon2id at its cheapest: a real hash that the hub checks as it checks any, in about a
millisecond instead of a quarter of a second of CPU per login (the suite logs in some thousand
times). Tests of what argon2's cost is there for use :func:`real_cost_hash`."""
_HASH = TEST_HASHER.hash(PASSWORD)


@functools.cache
def real_cost_hash() -> str:
    """:data:`PASSWORD` hashed with argon2's default cost, as ``skyhub hash-password`` makes it."""
    return PasswordHasher().hash(PASSWORD)


BASE_CONFIG: dict[str, Any] = {
    "users": [
        {"username": "admin", "roles": ["admin"]},
        {"username": "dispatcher", "roles": ["dispatcher"]},
        {"username": "coordinator", "roles": ["coordinator"]},
        {"username": "worker1", "roles": ["worker"]},
        {"username": "worker2", "roles": ["worker"]},
        {"username": "viewer", "roles": ["viewer"]},
    ],
    "directory": {
        "root": {
            "id": "d",
            "name": "District",
            "leader": "chief",
            "children": [
                {
                    "id": "s1",
                    "name": "Street 1",
                    "leader": "street-lead",
                    "children": [
                        {
                            "id": "c1",
                            "name": "Community 1",
                            "leader": "comm-lead",
                            "children": [
                                {
                                    "id": "g1",
                                    "name": "Grid 1",
                                    "leader": "worker1",
                                    "neighbours": ["g2"],
                                    "children": [{"id": "p1", "name": "Property 1"}],
                                },
                                {"id": "g2", "name": "Grid 2", "leader": "worker2", "neighbours": ["g1"]},
                            ],
                        }
                    ],
                },
                {
                    "id": "s2",
                    "name": "Street 2",
                    "children": [{"id": "c2", "name": "Community 2", "children": [{"id": "g3", "name": "Grid 3"}]}],
                },
            ],
        },
        "people": [
            {"id": "chief", "name": "Chief", "roles": ["coordinator"]},
            {"id": "street-lead", "name": "Street Lead", "roles": ["coordinator"]},
            {"id": "comm-lead", "name": "Community Lead", "roles": ["worker"]},
            {"id": "admin", "name": "Admin", "roles": ["admin"]},
            {"id": "dispatcher", "name": "Dispatcher", "roles": ["dispatcher"]},
            {"id": "coordinator", "name": "Coordinator", "roles": ["coordinator"]},
            {"id": "viewer", "name": "Viewer", "roles": ["viewer"]},
            {"id": "worker1", "name": "Worker One", "roles": ["worker"], "grids": ["g1"]},
            {"id": "worker2", "name": "Worker Two", "roles": ["worker"], "grids": ["g2"], "on_duty": False},
            {"id": "worker3", "name": "Worker Three", "roles": ["worker"], "grids": ["g3"]},
        ],
    },
}


def config_data(tmp: Path, password_hash: str = _HASH, **overrides: Any) -> dict[str, Any]:
    """Raw config of the test district, every user's password set to :data:`PASSWORD` (hashed
    cheaply unless ``password_hash`` is given)."""
    data = copy.deepcopy(BASE_CONFIG)
    for u in data["users"]:
        u["password_hash"] = password_hash
    data["data_dir"] = str(tmp / "data")
    data.update(overrides)
    return data


def make_settings(tmp: Path, password_hash: str = _HASH, **overrides: Any) -> Settings:
    """Settings with the test district, every user's password set to :data:`PASSWORD` (hashed
    cheaply unless ``password_hash`` is given)."""
    settings = Settings.model_validate(config_data(tmp, password_hash, **overrides))
    seed_scenes(settings.data_dir, (c.url for c in settings.cameras))
    return settings


def write_config(path: Path, **overrides: Any) -> Path:
    """The test district as a YAML file, for hubs run as processes (``skyhub run --config``)."""
    import yaml

    data = config_data(path.parent, **overrides)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    seed_scenes(Path(data["data_dir"]), (c["url"] for c in data.get("cameras", [])))
    return path


@dataclass
class RunningHub:
    """A hub served by uvicorn on a loopback port, in this event loop."""

    url: str
    port: int
    app: Any
    server: uvicorn.Server
    verify: ssl.SSLContext | bool = True
    """What the test's HTTP clients trust: the hub's own CA file when it serves HTTPS."""

    @property
    def hub(self) -> Any:
        return self.app.state.hub

    async def token(self, username: str, password: str = PASSWORD) -> str:
        async with httpx.AsyncClient(base_url=self.url, verify=self.verify) as c:
            r = await c.post("/api/auth/login", json={"username": username, "password": password})
            r.raise_for_status()
            return str(r.json()["access_token"])

    async def client(self, username: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {await self.token(username)}"} if username else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30, verify=self.verify)


@asynccontextmanager
async def serve(settings: Settings, clock: Any = None, port: int | None = None) -> AsyncIterator[RunningHub]:
    """Run a real hub server until the block ends, then shut it down (bounded); on a free port unless given."""
    app = create_app(settings, SECRET, clock)
    port = port or free_port()
    # Served as `skyhub run` serves it (its WebSocket protocol, limits, proxy and TLS options).
    options = {**uvicorn_options(settings), "timeout_graceful_shutdown": 5, "lifespan": "on"}
    config = uvicorn.Config(app, host="127.0.0.1", port=port, **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        try:
            async with asyncio.timeout(STARTUP_S):
                while not server.started:
                    if task.done():
                        task.result()
                        raise RuntimeError("server exited during startup")
                    await asyncio.sleep(0.02)
        except TimeoutError:
            _dump_stacks(f"hub on port {port} did not start within {STARTUP_S:.0f} s")
            raise
        tls = settings.server.tls
        if tls is None:
            yield RunningHub(f"http://127.0.0.1:{port}", port, app, server)
        else:  # clients trust the hub's own CA (`--https`), or the system's for a certificate of the config's
            ca = local_ca(settings.data_dir).ca_cert
            yield RunningHub(
                f"https://127.0.0.1:{port}",
                port,
                app,
                server,
                ssl.create_default_context(cafile=ca) if ca.exists() else True,
            )
    finally:
        server.should_exit = True
        try:
            async with asyncio.timeout(SHUTDOWN_S):
                await task
        except TimeoutError:
            _dump_stacks(f"hub on port {port} did not stop within {SHUTDOWN_S:.0f} s")
            raise


STARTUP_S = 30.0
SHUTDOWN_S = 60.0
"""Above the hub's own bound: about ten shutdown stages of ``server.shutdown_timeout_s`` (5 s) each."""


def _dump_stacks(why: str) -> None:
    # What was the hub waiting for? Every thread's stack and every task's, into the test output.
    import faulthandler
    import sys

    print(f"\n=== {why}: threads and tasks ===", file=sys.stderr)
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    for t in asyncio.all_tasks():
        print(f"--- task {t.get_name()}", file=sys.stderr)
        t.print_stack(limit=8, file=sys.stderr)


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    return lambda **kw: make_settings(tmp_path, **kw)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[RunningHub]:
    async with serve(make_settings(tmp_path)) as rh:
        yield rh


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database of this test's own, dropped afterwards."""
    admin = require_postgres()
    name = f"skyhub_test_{uuid.uuid4().hex[:10]}"
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> str:
    """The Redis on loopback (each test uses its own channel prefix; the link writes no keys)."""
    return require_redis()


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own on the shared Redis; its keys are deleted afterwards."""
    import redis.asyncio as aioredis

    prefix = f"skyhub-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = aioredis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()

"""PostgreSQL restarted in the middle of a burst of appends on two hub nodes.

The store is a PostgreSQL server of the test's own (Debian's binaries, a data directory in a temp
dir), stopped with ``pg_ctl stop -m fast`` while clients append on both nodes, kept down a few
seconds and started again. Neither node is restarted. What a user of either node must see:

- while the store is away, every answer is 201 (stored) or 503 with ``Retry-After``, never a 500,
  and none takes longer than a bound;
- a 503 saying "not stored" is true (a desk that sends it again makes no duplicate), and every
  entry answered 201 is in the store afterwards;
- both nodes are ready again and take appends by themselves within seconds of the store's return;
- a phone's outbox (``Idempotency-Key``, sent again after each 503) gets each point stored once;
- the log's ids are contiguous, and each node's live feed delivers every one of them once, in order.

Node A runs in the test's process (the test reads its counters); node B is a real process, so
that no state of the test's event loop or of A's engines can help it recover.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import websockets

from tests.conftest import free_port, require
from tests.hub.conftest import make_settings, serve, write_config
from tests.hub.test_lease_failures import NodeProcess


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with the server's own programs (Debian's layout)."""
    found = [
        d
        for d in Path("/usr/lib/postgresql").glob("*/bin")
        if all((d / p).exists() for p in ("initdb", "pg_ctl", "postgres"))
    ]
    return max(found, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0, default=None)


class OwnPostgres:
    """A PostgreSQL server of the test's own on a free loopback port, to stop and start at will.

    The server refuses to run as root, so under root it runs as the ``postgres`` OS user, with its
    data directory in a temp dir of that user's. Local connections are trusted (loopback only).
    ``fsync=off`` for speed: the server itself is only ever stopped or killed, never the machine,
    so what it wrote still reaches the files through the kernel; commits still wait for their WAL
    to be written (``synchronous_commit`` stays on), so a commit answered is a commit kept.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.root = Path(tempfile.mkdtemp(prefix="skyhub-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "server.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        os.chmod(self.root, 0o700)

    async def _run(self, program: str, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            *self._as,
            str(self.bindir / program),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            log = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() else ""
            raise RuntimeError(f"{program} {' '.join(args)} exited {proc.returncode}: {out.decode()[-2000:]}\n{log}")

    async def init(self) -> None:
        await self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    async def start(self) -> None:
        """Start the server and wait until it takes connections."""
        options = f"-p {self.port} -h 127.0.0.1 -k {self.root} -c fsync=off"
        await self._run(
            "pg_ctl", "start", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "30", "-o", options
        )

    async def stop(self, mode: str = "fast") -> None:
        """``fast``: the server ends every session (rolling back what was under way) and stops."""
        await self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "30")

    async def aclose(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                await self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
async def own_pg() -> AsyncIterator[OwnPostgres]:
    bindir = postgres_bin()
    require(bindir is not None, "PostgreSQL server programs (/usr/lib/postgresql/*/bin, Debian's postgresql)")
    assert bindir is not None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            require(False, "the postgres OS user (Debian's postgresql-common) to run a server as")
    pg = OwnPostgres(bindir)
    try:
        await pg.init()
        await pg.start()
        yield pg
    finally:
        await pg.aclose()


BEFORE_S = 2.0
"""Appending before the store stops."""
DOWN_S = 3.0
"""How long the store stays away."""
AFTER_S = 3.0
"""Appending after it is back."""
READY_AGAIN_S = 10.0
"""How soon after the store is back each node must be ready and take appends again: a few rounds of
its readiness probe (every 1 s) and of the writer's reconnect, with room for a loaded machine."""
ANSWER_MAX_S = 10.0
"""No answer may take longer. A stopped server refuses connections at once; the longest legitimate
wait is an append whose commit was cut off, which learns whether it was stored only once the store
is back (``DOWN_S`` and the server's start), then a reconnect (``connect_timeout``)."""


UNKNOWN_OUTCOME = "cannot be asked"
"""What a 503 says when an append may or may not be stored (``CommitUnknown``)."""


@dataclass
class Sent:
    """One request of the burst and how it was answered."""

    node: str
    text: str
    started: float
    took_s: float
    status: int
    """HTTP status, or 0 when the request got no answer (transport error, timeout)."""
    body: Any = None
    retry_after: str | None = None


@dataclass
class Feed:
    """A desk's live feed on one node, reconnecting from its last id when closed (as the page does)."""

    url: str
    token: str
    since: int
    ids: list[int] = field(default_factory=list)
    reconnects: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            cursor = self.ids[-1] if self.ids else self.since
            try:
                async with websockets.connect(f"{self.url}/ws/events?since={cursor}&token={self.token}") as ws:
                    while not stop.is_set():
                        with contextlib.suppress(TimeoutError):
                            msg = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                            if isinstance(msg, list):
                                self.ids += [e["id"] for e in msg]
            except (websockets.ConnectionClosed, OSError, websockets.InvalidStatus):
                self.reconnects += 1
                await asyncio.sleep(0.3)


async def readyz(url: str) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=5) as c:
        try:
            return (await c.get("/readyz")).status_code
        except httpx.HTTPError:
            return 0


async def store_rows(url: str) -> list[tuple[int, str, str, dict[str, Any]]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute("SELECT id, type, subject, data FROM events ORDER BY id")
        return [(int(i), t, s, json.loads(d)) for i, t, s, d in await cur.fetchall()]


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_postgresql_restarted_mid_burst_every_node_recovers_and_nothing_acknowledged_is_lost(
    tmp_path: Path, own_pg: OwnPostgres, redis_url: str, redis_prefix: str, mode: str
) -> None:
    storage: dict[str, Any] = {"url": own_pg.url, "redis_url": redis_url, "redis_prefix": redis_prefix}
    port_b = free_port()
    config_b = write_config(
        tmp_path / "b" / "hub.yaml", storage=storage, server={"public_url": f"http://127.0.0.1:{port_b}"}
    )
    b = NodeProcess(config_b, tmp_path / "b" / "data", port_b)
    b.start()
    try:
        await b.wait_ready()
        async with serve(make_settings(tmp_path / "a", storage=storage)) as a:
            nodes = {"A": a.url, "B": b.url}
            desk = await a.token("dispatcher")  # tokens are valid on every node (one secret)
            phone = await a.token("worker1")
            head0 = max((i for i, *_ in await store_rows(own_pg.url)), default=0)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            stop, stop_feeds = asyncio.Event(), asyncio.Event()
            sent: list[Sent] = []
            outbox: dict[str, list[Sent]] = {}
            point_at: dict[str, float] = {}

            async def desk_writer(node: str, n: int) -> None:
                headers = {"Authorization": f"Bearer {desk}"}
                async with httpx.AsyncClient(base_url=nodes[node], headers=headers, timeout=ANSWER_MAX_S) as c:
                    i = 0
                    while not stop.is_set():
                        text = f"{node}{n}-{i}"
                        i += 1
                        started = loop.time()
                        try:
                            r = await c.post("/api/journal", json={"text": text})
                            body = (
                                r.json() if r.headers.get("content-type", "").startswith("application/json") else r.text
                            )
                            status, retry = r.status_code, r.headers.get("Retry-After")
                        except httpx.HTTPError as exc:
                            body, status, retry = repr(exc), 0, None
                        sent.append(Sent(node, text, started - t0, loop.time() - started, status, body, retry))
                        await asyncio.sleep(0.2 if status == 503 else 0.01)

            async def phone_outbox(node: str) -> None:
                # Each point is sent with its own key until it is answered 201, as the worker app's
                # outbox does (honouring Retry-After); one phone on each node.
                headers = {"Authorization": f"Bearer {phone}"}
                async with httpx.AsyncClient(base_url=nodes[node], headers=headers, timeout=ANSWER_MAX_S) as c:
                    i = 0
                    while not stop.is_set():
                        key = f"{node}-{uuid.uuid4()}"
                        point = {"lat": 30.0 + i / 1e4, "lon": 120.0, "accuracy": 5.0, "time": time.time()}
                        i += 1
                        point_at[key] = point["time"]
                        tries = outbox.setdefault(key, [])
                        while True:
                            started = loop.time()
                            try:
                                r = await c.post("/api/me/location", json=point, headers={"Idempotency-Key": key})
                                status, retry, body = r.status_code, r.headers.get("Retry-After"), r.text
                            except httpx.HTTPError as exc:
                                status, retry, body = 0, None, repr(exc)
                            tries.append(Sent(node, key, started - t0, loop.time() - started, status, body, retry))
                            if status == 201:
                                break
                            await asyncio.sleep(float(retry) if retry else 0.5)
                        await asyncio.sleep(0.05)

            feeds = [Feed(nodes[n].replace("http", "ws", 1), desk, head0) for n in nodes]
            feeding = [asyncio.create_task(f.run(stop_feeds)) for f in feeds]
            tasks = [asyncio.create_task(desk_writer(n, k)) for n in nodes for k in range(2)]
            tasks += [asyncio.create_task(phone_outbox(n)) for n in nodes]
            try:
                await asyncio.sleep(BEFORE_S)
                down_at = loop.time() - t0
                await own_pg.stop(mode)
                # Meanwhile a load balancer hears from each node that it is not ready.
                not_ready: dict[str, int] = {}
                while loop.time() - t0 - down_at < DOWN_S:
                    for n, url in nodes.items():
                        if await readyz(url) == 503:
                            not_ready[n] = not_ready.get(n, 0) + 1
                    await asyncio.sleep(0.2)
                await own_pg.start()
                up_at = loop.time() - t0
                # Every node ready again by itself (its appends are checked below).
                ready_in: dict[str, float] = {}
                while len(ready_in) < len(nodes):
                    for n, url in nodes.items():
                        if n not in ready_in and await readyz(url) == 200:
                            ready_in[n] = loop.time() - t0 - up_at
                    assert loop.time() - t0 - up_at < READY_AGAIN_S, f"not ready again: {set(nodes) - set(ready_in)}"
                    await asyncio.sleep(0.1)
                await asyncio.sleep(AFTER_S)
            finally:
                stop.set()
                await asyncio.wait(tasks, timeout=ANSWER_MAX_S + 5)
                for t in tasks:
                    t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

            rows = await store_rows(own_pg.url)
            head = rows[-1][0]
            try:  # each node's feed delivers up to the head (the last commits may still be on their way)
                async with asyncio.timeout(10):
                    while not all(f.ids and f.ids[-1] >= head for f in feeds):  # noqa: ASYNC110
                        await asyncio.sleep(0.1)
            except TimeoutError:
                pass  # asserted below, with what each one got
            finally:
                stop_feeds.set()
                await asyncio.gather(*feeding)

        print(
            f"\nstore down at {down_at:.1f} s, back at {up_at:.1f} s; ready again after "
            + ", ".join(f"{n} {s:.1f} s" for n, s in ready_in.items())
            + f"; {len(sent)} journal appends: "
            + ", ".join(f"{s}: {sum(1 for x in sent if x.status == s)}" for s in sorted({x.status for x in sent}))
            + f"; slowest answer {max(x.took_s for x in sent):.2f} s; feed reconnects "
            + ", ".join(str(f.reconnects) for f in feeds)
        )
        stats = a.hub.log.stats
        print(f"cut commits on A: stored {stats.cut_commits_stored}, lost {stats.cut_commits_lost}")
        details: dict[str, int] = {}
        for x in sent:
            if x.status == 503:
                d = str(x.body.get("detail") if isinstance(x.body, dict) else x.body)[:90]
                details[d] = details.get(d, 0) + 1
        print(details)

        # Answers: 201 or 503 with Retry-After, each within the bound.
        tries = [x for xs in outbox.values() for x in xs]
        odd = [x for x in sent + tries if x.status not in (201, 503) or (x.status == 503 and not x.retry_after)]
        assert odd == [], odd[:5]
        slow = [x for x in sent + tries if x.took_s > ANSWER_MAX_S]
        assert slow == [], slow[:5]
        assert any(x.status == 503 for x in sent), "the outage was never seen: nothing tested"
        assert set(not_ready) == set(nodes), f"readyz said 503 during the outage only on {set(not_ready)}"
        # Both nodes took appends again after the store came back.
        for n in nodes:
            assert any(x.node == n and x.status == 201 and x.started > up_at for x in sent), f"{n} took none after"

        # The log: ids contiguous, every acknowledged entry stored under its id, and none that was
        # answered "not stored".
        ids = [i for i, *_ in rows]
        assert ids == list(range(1, head + 1)), "gaps or duplicates in the event ids"
        journal = {d["text"]: i for i, t, _, d in rows if t == "journal.entry"}
        acked = {x.text: x.body["id"] for x in sent if x.status == 201}
        assert {t: journal.get(t) for t in acked} == acked, "an acknowledged entry is missing or moved"
        # A 503 means "not stored, send it again" unless it says the store could not be asked
        # (CommitUnknown): an entry stored without a 201 is one whose answer said it may be.
        unknown = {x.text for x in sent if x.status == 503 and UNKNOWN_OUTCOME in str(x.body)}
        stored_unacked = [t for t in journal if t not in acked and t not in unknown]
        assert stored_unacked == [], f"stored, though answered 'not stored': {stored_unacked[:5]}"

        # The phone: every point it sent stored once, though sent again after each 503.
        stored_at = [d["at"] for _, t, _, d in rows if t == "person.position"]
        answered = [k for k, xs in outbox.items() if xs[-1].status == 201]
        assert answered, "the phone got no point stored"
        twice = [k for k in answered if stored_at.count(point_at[k]) != 1]
        assert twice == [], f"points answered 201 but stored other than once: {twice[:5]}"
        print(f"phone: {len(outbox)} points, {len(tries)} requests, {len(stored_at)} stored")

        # Each node's live feed: every id once, in order.
        for name, f in zip(nodes, feeds, strict=True):
            got = [i for i in f.ids if i <= head]
            assert got == list(range(head0 + 1, head + 1)), f"feed on {name}: gap, duplicate or disorder"
    finally:
        b.kill()

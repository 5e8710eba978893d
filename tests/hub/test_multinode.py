"""Several hub nodes on one PostgreSQL log: each delivers every event, in order, promptly with Redis."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import websockets

from hub.configfile import ConfigError, load_settings
from hub.store.bus import EventBus, Subscription
from hub.store.eventlog import EventLog
from hub.store.redislink import RedisLink
from tests.conftest import free_port, wait_until
from tests.hub.conftest import make_settings, serve


class Node:
    """One node's log, bus subscription and (optionally) Redis link."""

    def __init__(self, url: str, poll_s: float, redis_url: str | None = None, prefix: str = "") -> None:
        self.bus = EventBus()
        self.sub: Subscription = self.bus.subscribe(100_000, name="test")
        self.log = EventLog(url, self.bus, batch_max=32, poll_s=poll_s)
        self.link = RedisLink(redis_url, prefix, self.log) if redis_url else None
        self.tg = asyncio.TaskGroup()
        self.tasks: list[asyncio.Task[None]] = []
        self.got: list[int] = []

    async def __aenter__(self) -> Node:
        await self.log.open()
        await self.tg.__aenter__()
        self.log.start(self.tg)
        if self.link is not None:
            self.tasks = self.link.start(self.tg)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.log.aclose()
        for t in self.tasks:
            t.cancel()
        if self.link is not None:
            await self.link.aclose()
        await self.tg.__aexit__(None, None, None)

    async def collect_until(self, last_id: int, within_s: float) -> list[int]:
        """Ids delivered on this node's bus until ``last_id`` arrives (or the time is up)."""
        async with asyncio.timeout(within_s):
            while not self.got or self.got[-1] < last_id:
                self.got += [e.id for e in await self.sub.get()]
        return self.got


async def test_each_node_delivers_every_event_once_in_id_order(pg_url: str) -> None:
    # Two nodes append at once: on each node's bus, subscribers see 1..600 with no gap, no repeat,
    # whichever node wrote them (no Redis here: other nodes' events come by polling).
    async with Node(pg_url, poll_s=0.05) as a, Node(pg_url, poll_s=0.05) as b:
        await asyncio.gather(*(n.log.append("test.n", f"{i}") for i in range(300) for n in (a, b)))
        for node in (a, b):
            assert await node.collect_until(600, within_s=10) == list(range(1, 601))
        assert a.log.stats.followed > 0 and b.log.stats.followed > 0
        assert a.log.last_id == b.log.last_id == 600


async def test_redis_wakes_the_other_node_long_before_its_poll(pg_url: str, redis_url: str) -> None:
    prefix = f"skyhub-test-{uuid.uuid4().hex[:8]}"
    async with Node(pg_url, 30.0, redis_url, prefix) as a, Node(pg_url, 30.0, redis_url, prefix) as b:
        assert a.link is not None and b.link is not None
        await wait_until(lambda: a.link.stats.connected and b.link.stats.connected, 10, "both links")
        t = time.monotonic()
        ev = await a.log.append("test.hello", "x")
        assert await b.collect_until(ev.id, within_s=5) == [ev.id]
        assert time.monotonic() - t < 5  # the poll alone would have taken up to 30 s
        assert b.link.stats.heard >= 1 and a.link.stats.announced >= 1
        # And the other way round, several in a row.
        evs = [await b.log.append("test.back", str(i)) for i in range(5)]
        assert await a.collect_until(evs[-1].id, within_s=5) == [ev.id, *(e.id for e in evs)]


async def test_a_node_told_to_stop_stops_beating_even_if_redis_swallows_the_request(
    pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    """A Redis command that turns a cancellation into an error of its own (seen: a hub's shutdown
    waited for ever on its heartbeat, which kept beating) must not keep the node's loops alive."""
    import redis.exceptions

    from hub.store.redislink import HEARTBEAT_S

    async with Node(pg_url, 30.0, redis_url, redis_prefix) as a:
        link = a.link
        assert link is not None and link._client is not None
        beat = next(t for t in a.tasks if t.get_name() == "redis-heartbeat")
        inside = asyncio.Event()

        async def set_swallowing_cancel(*args: Any, **kwargs: Any) -> None:
            inside.set()
            try:
                await asyncio.Event().wait()  # Redis slow to answer
            except asyncio.CancelledError:
                raise redis.exceptions.ConnectionError("connection closed while reading") from None

        link._client.set = set_swallowing_cancel  # type: ignore[method-assign]
        link.beat_now()
        async with asyncio.timeout(HEARTBEAT_S * 2):
            await inside.wait()
        beat.cancel()
        done, _ = await asyncio.wait([beat], timeout=HEARTBEAT_S * 2)
        assert beat in done and beat.cancelled(), "the heartbeat went on after it was told to stop"


async def test_without_redis_the_poll_still_delivers_and_the_password_stays_hidden(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"redis://:sup3r-secret@127.0.0.1:{free_port()}/0"  # nothing listens there
    caplog.set_level(logging.INFO)
    async with Node(pg_url, 0.2, dead, "skyhub-test") as a, Node(pg_url, 0.2, dead, "skyhub-test") as b:
        ev = await a.log.append("test.hello", "x")
        assert await b.collect_until(ev.id, within_s=5) == [ev.id]
        assert b.link is not None
        await wait_until(lambda: b.link.stats.errors > 0, 5, "a failed connection to be counted")
        assert not b.link.stats.connected
    assert "sup3r-secret" not in caplog.text
    assert "redis://:***@127.0.0.1" in caplog.text


async def _recv_events(ws: websockets.ClientConnection, want: int, within_s: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(within_s):
        while len(out) < want:
            msg = json.loads(await ws.recv())
            if isinstance(msg, list):
                out += [e for e in msg if e["type"] == "journal.entry"]
    return out


async def test_two_hubs_share_one_log_and_feed(tmp_path: Path, pg_url: str, redis_url: str) -> None:
    storage = {"url": pg_url, "redis_url": redis_url, "redis_prefix": f"t{uuid.uuid4().hex[:8]}", "follow_poll_s": 30}
    async with (
        serve(make_settings(tmp_path / "a", storage=storage)) as a,
        serve(make_settings(tmp_path / "b", storage=storage)) as b,
    ):
        await wait_until(lambda: a.hub.redis.stats.connected and b.hub.redis.stats.connected, 10, "both links")
        token_b = await b.token("dispatcher")
        ws = await websockets.connect(f"ws://127.0.0.1:{b.port}/ws/events?token={token_b}")
        try:
            assert json.loads(await ws.recv())["control"] == "live"
            async with await a.client("dispatcher") as ca, await b.client("dispatcher") as cb:
                posted = []
                for i in range(6):  # alternate nodes: the feed on B interleaves both in id order
                    c = ca if i % 2 == 0 else cb
                    r = await c.post("/api/journal", json={"text": f"entry {i}"})
                    assert r.status_code == 201
                    posted.append(r.json()["id"])
                got = await _recv_events(ws, 6, within_s=5)
                assert [e["id"] for e in got] == posted == sorted(posted)
                assert [e["data"]["text"] for e in got] == [f"entry {i}" for i in range(6)]
                # Written on A alone: only Redis can bring it to B's feed this fast (B polls every 30 s).
                r = await ca.post("/api/journal", json={"text": "from A only"})
                got = await _recv_events(ws, 1, within_s=5)
                assert [e["id"] for e in got] == [r.json()["id"]]
                # A client resuming on B from an id that A just wrote is not told it is beyond the log.
                r = await ca.post("/api/journal", json={"text": "fresh"})
                fresh = r.json()["id"]
                page = await cb.get("/api/events", params={"since": fresh})
                assert page.status_code == 200 and page.json()["last_id"] >= fresh
                resumed = await websockets.connect(f"ws://127.0.0.1:{b.port}/ws/events?since={fresh}&token={token_b}")
                try:
                    assert json.loads(await resumed.recv()) == {"control": "live", "last_id": fresh}
                finally:
                    await resumed.close()
        finally:
            await ws.close()


def test_redis_with_a_sqlite_store_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "hub.yaml"
    cfg.write_text("storage:\n  redis_url: redis://127.0.0.1:6379/0\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert "hub.yaml:2:" in str(info.value) and "SQLite file serves one node" in str(info.value)


async def test_catching_up_on_a_backlog_does_not_overflow_a_live_subscriber(pg_url: str) -> None:
    # Node B hears of 600 events at once (Redis was down, say): it hands them over in pages, so a
    # subscriber that keeps up with its 512-event queue gets them all without being told to resync.
    async with Node(pg_url, poll_s=30.0) as a, Node(pg_url, poll_s=30.0) as b:
        sub = b.bus.subscribe(512, name="live client")
        await asyncio.gather(*(a.log.append("test.backlog", str(i)) for i in range(600)))
        got: list[int] = []

        async def drain() -> None:
            while len(got) < 600 and not sub.overflowed:
                got.extend(e.id for e in await sub.get())

        consumer = asyncio.create_task(drain())
        b.log.nudge()
        async with asyncio.timeout(10):
            await consumer
        assert not sub.overflowed and got == list(range(1, 601))


async def test_a_deadline_armed_on_a_node_that_died_is_fired_by_another(tmp_path: Path, pg_url: str) -> None:
    # Node A assigns an incident (arming its acknowledge deadline) and dies before it is due; node B
    # never heard of it locally, yet fires it exactly once by looking at the shared store again.
    from alerts.clock import SystemClock
    from hub.incidents.deadlines import DeadlineScheduler
    from hub.incidents.desk import Assignee, IncidentDesk
    from hub.incidents.model import Severity, Source, State
    from hub.people.directory import Directory
    from tests.hub.desk_fixtures import principal

    deadlines = {p: {"ack_s": 0.5, "arrive_s": 600, "resolve_s": 3600} for p in ("P1", "P2", "P3", "P4")}
    settings = make_settings(tmp_path, incidents={"deadlines": deadlines})
    dispatcher = principal(settings, "dispatcher")
    async with Node(pg_url, 30.0) as a, Node(pg_url, 30.0) as b:
        desk_b = IncidentDesk(b.log, Directory(settings), settings.incidents, SystemClock())
        scheduler_b = DeadlineScheduler(desk_b, shared_rescan_s=0.3)
        running_b = asyncio.create_task(scheduler_b.run())
        try:
            await asyncio.sleep(0.2)  # B has looked once and found nothing to wait for
            desk_a = IncidentDesk(a.log, Directory(settings), settings.incidents, SystemClock())
            inc, _ = await desk_a.create(
                category="c", severity=Severity.P3, title="t", source=Source.MANUAL, actor="dispatcher", node="g1"
            )
            await desk_a.transition(inc.id, State.VERIFIED, 1, dispatcher)
            await desk_a.transition(inc.id, State.ASSIGNED, 2, dispatcher, assignee=Assignee(grid="g1"))
            # A has no scheduler running: it "died". B must fire the deadline.
            await wait_until(lambda: scheduler_b.fired >= 1, 5, "node B to fire A's deadline")
            await asyncio.sleep(0.7)  # more rescans (and the next level's own deadline climbing on)
            escalated = [e.data for e in await desk_b.history(inc.id) if e.type == "incident.escalated"]
            assert (escalated[0]["from"], escalated[0]["to"]) == ("g1", "c1")
            ids = [d["deadline_id"] for d in escalated]
            assert len(ids) == len(set(ids)) == scheduler_b.fired  # every deadline fired exactly once
        finally:
            running_b.cancel()
            await asyncio.wait([running_b])


async def test_event_times_never_go_back_when_a_node_clock_runs_ahead(pg_url: str) -> None:
    import sqlalchemy as sa

    from hub.store.eventlog import events_table

    async with Node(pg_url, poll_s=30.0) as a, Node(pg_url, poll_s=30.0) as b:
        first = await a.log.append("test.ahead", "x")
        ahead = first.ts + 120.0  # node A's clock is two minutes fast

        def skew(conn: sa.Connection) -> None:
            conn.execute(events_table.update().where(events_table.c.id == first.id).values(ts=ahead))
            conn.commit()

        await b.log.query(skew)
        later = await b.log.append("test.after", "x")
        assert later.id == first.id + 1 and later.ts >= ahead
        stored = await b.log.read(0, 10)
        assert [e.ts for e in stored] == sorted(e.ts for e in stored)


async def test_the_public_report_limit_holds_across_nodes(
    tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    import httpx

    storage = {"url": pg_url, "redis_url": redis_url, "redis_prefix": redis_prefix}
    incidents = {"public_rate_per_min": 3}
    async with (
        serve(make_settings(tmp_path / "a", storage=storage, incidents=incidents)) as a,
        serve(make_settings(tmp_path / "b", storage=storage, incidents=incidents)) as b,
        httpx.AsyncClient(base_url=a.url) as on_a,
        httpx.AsyncClient(base_url=b.url) as on_b,
    ):
        codes = [(await on_a.post("/api/public/reports", data={"text": f"report {i}"})).status_code for i in range(3)]
        assert codes == [201, 201, 201]
        # The same resident tries the other node: the limit is the district's, not one node's.
        r = await on_b.post("/api/public/reports", data={"text": "one more"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert b.hub.shared_limiter.errors == 0


async def test_the_public_photo_budget_is_the_districts_not_one_nodes(
    tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    storage = {"url": pg_url, "redis_url": redis_url, "redis_prefix": redis_prefix}
    async with (
        serve(make_settings(tmp_path / "a", storage=storage)) as a,
        serve(make_settings(tmp_path / "b", storage=storage)) as b,
    ):
        day = a.hub.settings.incidents.public_photo_bytes_per_day
        # Most of the day's budget goes through node A ...
        assert await a.hub.public_bytes_wait(day - 1000) == 0
        # ... so node B has only what is left, and says when there will be room.
        assert await b.hub.public_bytes_wait(500) == 0
        wait = await b.hub.public_bytes_wait(5000)
        assert 86_400 * 4000 / day * 0.9 < wait < 86_400 * 5000 / day * 1.1
        assert a.hub.shared_bytes.errors == 0 and b.hub.shared_bytes.errors == 0


async def test_without_redis_the_public_limit_still_holds_per_node(tmp_path: Path) -> None:
    from hub.access.ratelimit import SharedRateLimiter

    limiter = SharedRateLimiter(f"redis://127.0.0.1:{free_port()}/0", "skyhub-test", per_minute=2)
    try:
        waits = [await limiter.check("198.51.100.7") for _ in range(3)]
        assert waits[:2] == [0.0, 0.0] and waits[2] > 0
        assert limiter.errors == 3 and limiter.refused == 1
    finally:
        await limiter.aclose()


async def test_the_nodes_sharing_a_log_are_listed_with_their_lag(
    tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    storage = {"url": pg_url, "redis_url": redis_url, "redis_prefix": redis_prefix}
    async with serve(make_settings(tmp_path / "a", storage=storage)) as a:
        async with serve(make_settings(tmp_path / "b", storage=storage)) as b:
            node_a, node_b = a.hub.redis.node, b.hub.redis.node
            async with await a.client("dispatcher") as c:
                await wait_until(lambda: b.hub.redis.stats.connected, 10, "B's link")
                body = {}

                async def listed() -> set[str]:
                    nonlocal body
                    body = (await c.get("/api/nodes")).json()
                    return {n["node"] for n in body["nodes"]}

                for _ in range(50):  # each node registers within a heartbeat (3 s)
                    if await listed() == {node_a, node_b}:
                        break
                    await asyncio.sleep(0.2)
                else:
                    pytest.fail(f"both nodes never listed: {body}")
                assert body["this"] == node_a and body["head_id"] >= 1
                assert all(n["lag"] >= 0 and n["pid"] > 0 for n in body["nodes"])
                async with await a.client("worker1") as w:
                    assert (await w.get("/api/nodes")).status_code == 403
        # B shut down: it leaves the registry at once, not after its entry expires.
        async with await a.client("admin") as c:
            assert [n["node"] for n in (await c.get("/api/nodes")).json()["nodes"]] == [node_a]


async def test_a_single_node_lists_itself(running: Any) -> None:
    async with await running.client("admin") as c:
        body = (await c.get("/api/nodes")).json()
    assert body["this"] == "local" and [n["lag"] for n in body["nodes"]] == [0]

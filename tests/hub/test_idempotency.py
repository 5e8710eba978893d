"""Idempotency-Key on what a phone's outbox replays: done once, answered the same, a reused key refused."""

from __future__ import annotations

import asyncio
import io
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml

from hub.store.idempotency import keys_table
from tests.conftest import wait_until
from tests.hub.conftest import PASSWORD, TEST_HASHER, RunningHub, make_settings, serve
from tests.hub.test_crash import HubProcess
from tests.hub.test_incidents_api import jpeg


def key() -> dict[str, str]:
    """A fresh key, as the phone makes one per outbox record."""
    return {"Idempotency-Key": str(uuid.uuid4())}


async def events(rh: RunningHub, type_: str) -> list[dict[str, Any]]:
    async with await rh.client("admin") as admin:
        r = await admin.get("/api/events", params={"since": 0, "type": type_, "limit": 500})
        return list(r.json()["events"])


async def report(c: httpx.AsyncClient, headers: dict[str, str], text: str = "broken railing", photos: int = 1) -> Any:
    files = [("photos", (f"p{i}.jpg", io.BytesIO(jpeg(64 + i)), "image/jpeg")) for i in range(photos)]
    return await c.post("/api/reports", data={"text": text, "category": "facility"}, files=files, headers=headers)


async def test_a_report_sent_twice_with_one_key_opens_one_incident_and_answers_the_same(running: RunningHub) -> None:
    k = key()
    async with await running.client("worker1") as w:
        first = await report(w, k, photos=2)
        again = await report(w, k, photos=2)
        assert first.status_code == again.status_code == 201, (first.text, again.text)
        assert again.json() == first.json()
        assert again.headers.get("Idempotent-Replayed") == "true"
        # The same key with another text is another request: refused, nothing opened.
        other = await report(w, k, text="a different report", photos=2)
        assert other.status_code == 422 and "another request" in other.json()["detail"]
        # Without a key, a resend is a new report (as before).
        assert (await report(w, {}, text="no key")).status_code == 201
    created = await events(running, "incident.created")
    assert len(created) == 2
    photos = await events(running, "incident.evidence_added")
    assert len(photos) == 3  # two with the report, one with the report sent without a key
    assert len(first.json()["photos"]) == 2
    async with await running.client("admin") as a:  # what an operator sees of it
        metrics = (await a.get("/metrics")).text
    assert "skyhub_keyed_replays_total 1.0" in metrics and "skyhub_keyed_reused_total 1.0" in metrics


async def test_transitions_and_receipts_replay_their_first_answer(running: RunningHub) -> None:
    async with await running.client("dispatcher") as d, await running.client("worker1") as w:
        inc = (
            await d.post("/api/incidents", json={"category": "x", "severity": "P2", "title": "t", "node": "g1"})
        ).json()
        iid = inc["incident"]["id"]
        await d.post(f"/api/incidents/{iid}/transitions", json={"to": "verified", "version": 1})
        assigned = {"to": "assigned", "version": 2, "assignee": {"person": "worker1"}}
        assert (await d.post(f"/api/incidents/{iid}/transitions", json=assigned)).status_code == 200
        k = key()
        ack = {"to": "acknowledged", "version": 3}
        first = await w.post(f"/api/incidents/{iid}/transitions", json=ack, headers=k)
        assert first.status_code == 200, first.text
        # Sent again by the outbox: not a 409 for a stale version, but the first answer.
        again = await w.post(f"/api/incidents/{iid}/transitions", json=ack, headers=k)
        assert (again.status_code, again.json()) == (200, first.json())
        reused = await w.post(f"/api/incidents/{iid}/transitions", json={"to": "on_site", "version": 4}, headers=k)
        assert reused.status_code == 422
        assert (await d.get(f"/api/incidents/{iid}")).json()["incident"]["state"] == "acknowledged"
        # Photos taken on site, sent twice by the outbox: linked once.
        ek = key()
        shot = [("photos", ("site.jpg", jpeg(80), "image/jpeg"))]
        linked = await w.post(f"/api/incidents/{iid}/evidence", files=shot, headers=ek)
        assert linked.status_code == 201, linked.text
        relinked = await w.post(f"/api/incidents/{iid}/evidence", files=shot, headers=ek)
        assert (relinked.status_code, relinked.json()) == (201, linked.json())
        other_shot = [("photos", ("site.jpg", jpeg(96), "image/jpeg"))]
        assert (await w.post(f"/api/incidents/{iid}/evidence", files=other_shot, headers=ek)).status_code == 422
        evidence = (await d.get(f"/api/incidents/{iid}")).json()["evidence"]
        assert [e["kind"] for e in evidence] == ["photo"]

        sent = await d.post(
            "/api/instructions", json={"text": "check drains", "priority": "urgent", "targets": {"people": ["worker1"]}}
        )
        nid = sent.json()["instruction"]["id"]
        rk, ak = key(), key()
        read = await w.post(f"/api/instructions/{nid}/read", headers=rk)
        assert read.json()["state"] == "read"
        assert (
            await w.post(f"/api/instructions/{nid}/ack", json={"reply": "on my way"}, headers=ak)
        ).status_code == 200
        # The read receipt replayed after the reply: still the answer it got, the receipt unchanged.
        replay = await w.post(f"/api/instructions/{nid}/read", headers=rk)
        assert replay.json() == read.json()
        assert (await w.post(f"/api/instructions/{nid}/ack", json={"reply": "other"}, headers=ak)).status_code == 422
        receipts = (await d.get(f"/api/instructions/{nid}")).json()["receipts"]
    assert [(r["state"], r["reply"]) for r in receipts] == [("replied", "on my way")]
    assert len(await events(running, "instruction.replied")) == 1
    assert len(await events(running, "incident.acknowledged")) == 1


async def test_two_requests_with_one_key_at_once_make_one_change(running: RunningHub) -> None:
    k = key()
    async with await running.client("worker1") as w:
        answers = await asyncio.gather(*(report(w, k, text="leaking hydrant") for _ in range(4)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.text for a in answers}) == 1
    assert len(await events(running, "incident.created")) == 1
    assert len(await events(running, "incident.evidence_added")) == 1


async def test_a_repeat_after_a_crash_between_change_and_answer_finishes_the_report_without_doubling(
    tmp_path: Path,
) -> None:
    # What a SIGKILL between the commit and the answer leaves behind: the key stored with the incident
    # it opened, no answer, and (killed mid-way) the second photo not linked yet. Made here exactly by
    # taking the answer and the second photo's link back out of the store, then starting the hub again.
    settings = make_settings(tmp_path)
    k = key()
    async with serve(settings) as rh, await rh.client("worker1") as w:
        first = await report(w, k, photos=2)
        assert first.status_code == 201
        engine = sa.create_engine(settings.storage_url())
        with engine.begin() as conn:
            conn.execute(sa.update(keys_table).values(status=None, body=None))
            conn.execute(sa.text("DELETE FROM incident_evidence WHERE id = (SELECT max(id) FROM incident_evidence)"))
        engine.dispose()
    async with serve(settings) as rh, await rh.client("worker1") as w:
        # Just claimed by another hub process: it may still be at work there, so not yet.
        busy = await report(w, k, photos=2)
        assert busy.status_code == 409 and busy.headers["Retry-After"], busy.text
        engine = sa.create_engine(settings.storage_url())
        with engine.begin() as conn:  # the phone's outbox tries again a minute later
            conn.execute(sa.update(keys_table).values(created_at=keys_table.c.created_at - 60))
        engine.dispose()
        again = await report(w, k, photos=2)
        assert again.status_code == 201, again.text
        body = again.json()
        assert body["incident"]["id"] == first.json()["incident"]["id"]
        assert len(body["photos"]) == 2
        assert (await report(w, k, photos=2)).json() == body  # the rebuilt answer is now the stored one
        assert len(await events(rh, "incident.created")) == 1
        inc = (await w.get(f"/api/incidents/{body['incident']['id']}")).json()
    assert len([e for e in inc["evidence"] if e["kind"] == "photo"]) == 2


async def test_keys_expire_and_bad_keys_are_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, field={"idempotency_ttl_s": 60})
    async with serve(settings) as rh, await rh.client("worker1") as w:
        assert (await report(w, {"Idempotency-Key": "has space"})).status_code == 422
        assert (await report(w, {"Idempotency-Key": "x" * 129})).status_code == 422
        k = key()
        assert (await report(w, k)).status_code == 201
        engine = sa.create_engine(settings.storage_url())
        with engine.begin() as conn:  # a day later
            conn.execute(sa.update(keys_table).values(created_at=keys_table.c.created_at - 86_400))
        engine.dispose()
        assert (await report(w, k)).headers.get("Idempotent-Replayed") is None
        assert len(await events(rh, "incident.created")) == 2
        # Keys are per user: another worker's identical key is theirs.
        async with await rh.client("worker2") as w2:
            assert (await report(w2, k, text="same key, other user")).status_code == 201


async def test_one_key_sent_to_two_hub_nodes_at_once_makes_one_change(tmp_path: Path, pg_url: str) -> None:
    k = key()
    a_settings = make_settings(tmp_path / "a", storage={"url": pg_url, "follow_poll_s": 0.2})
    b_settings = make_settings(tmp_path / "b", storage={"url": pg_url, "follow_poll_s": 0.2})
    async with serve(a_settings) as a, serve(b_settings) as b:
        async with await a.client("worker1") as wa, await b.client("worker1") as wb:
            answers = await asyncio.gather(*(report(c, k, text="fallen tree") for c in (wa, wb, wa, wb)))
            assert {r.status_code for r in answers} <= {201, 409}, [r.text for r in answers]
            done = [r.json() for r in answers if r.status_code == 201]
            assert done and all(d == done[0] for d in done)
            # Sent again once the first is answered: the same answer on either node.
            for c in (wa, wb):
                again = await report(c, k, text="fallen tree")
                assert (again.status_code, again.json()) == (201, done[0])
        assert len(await events(a, "incident.created")) == 1
        assert len(await events(a, "incident.evidence_added")) == 1


HOLD_ANSWERS = """
CREATE FUNCTION hold_answer() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(600); RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE TRIGGER hold_answer BEFORE UPDATE ON idempotency_keys FOR EACH ROW EXECUTE FUNCTION hold_answer();
"""
"""Holds every answer write of the hub (after its change committed) until the hub is killed."""
HELD = "wait_event = 'PgSleep' AND datname = current_database()"
"""The held write, among this database's connections."""


async def test_sigkill_between_the_change_and_its_answer_then_the_repeat_does_not_do_it_again(
    tmp_path: Path, pg_url: str
) -> None:
    cfg = {
        "storage": {"url": pg_url},
        "users": [{"username": "worker1", "roles": ["worker"], "password_hash": TEST_HASHER.hash(PASSWORD)}],
        "directory": {
            "root": {
                "id": "d",
                "name": "D",
                "children": [
                    {
                        "id": "s",
                        "name": "S",
                        "children": [{"id": "c", "name": "C", "children": [{"id": "g1", "name": "G1"}]}],
                    }
                ],
            },
            "people": [{"id": "worker1", "name": "Worker One", "roles": ["worker"], "grids": ["g1"]}],
        },
    }
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump(cfg))
    hub = HubProcess(config, tmp_path / "data")
    engine = sa.create_engine(sa.make_url(pg_url).set(drivername="postgresql+psycopg"))
    try:
        hub.start()
        await hub.wait_ready()
        with engine.begin() as conn:
            conn.execute(sa.text(HOLD_ANSWERS))
        k = key()
        async with httpx.AsyncClient(base_url=hub.url, timeout=60) as c:
            r = await c.post("/api/auth/login", json={"username": "worker1", "password": PASSWORD})
            c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
            sending = asyncio.create_task(report(c, k, photos=2))

            def held() -> bool:  # the change is committed and its answer is being written
                with engine.connect() as conn:
                    return bool(
                        conn.execute(sa.text(f"SELECT count(*) FROM pg_stat_activity WHERE {HELD}")).scalar_one()
                    )

            await wait_until(held, 30, "the answer write to be held")
            hub.kill_now()
            with pytest.raises(httpx.TransportError):
                await sending
        await asyncio.to_thread(hub.kill)
        with engine.begin() as conn:  # the killed hub's held write goes (its lock with it), then the trigger
            conn.execute(sa.text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {HELD}"))
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TRIGGER hold_answer ON idempotency_keys"))
            assert conn.execute(sa.text("SELECT count(*) FROM incidents")).scalar_one() == 1
            assert conn.execute(sa.text("SELECT status FROM idempotency_keys")).scalar_one() is None
            # The phone's outbox sends it again a minute later (within the minute, the hub cannot
            # tell the killed process from one still at work, and answers 409).
            conn.execute(sa.text("UPDATE idempotency_keys SET created_at = created_at - 60"))
        hub.start()
        await hub.wait_ready()
        async with httpx.AsyncClient(base_url=hub.url, timeout=60) as c:
            r = await c.post("/api/auth/login", json={"username": "worker1", "password": PASSWORD})
            c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
            again = await report(c, k, photos=2)
            assert again.status_code == 201, again.text
            assert again.headers["Idempotent-Replayed"] == "true"
            assert len(again.json()["photos"]) == 2
            assert (await report(c, k, photos=2)).json() == again.json()
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM incidents")).scalar_one() == 1
            assert conn.execute(sa.text("SELECT count(*) FROM incident_evidence")).scalar_one() == 2
    finally:
        hub.kill()
        engine.dispose()

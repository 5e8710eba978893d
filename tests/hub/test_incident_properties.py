"""Property tests: random transitions, assignments, camera alerts and clock moves keep the desk's invariants.

- every incident's row (state, version, assignee, responsible, feedback, merged_into,
  closed_at, count, last_seen, updated_at…) equals the replay of its events in the log;
- no deadline fires twice, and every fired deadline has exactly one escalation event;
- an acknowledged incident never escalates for the acknowledge deadline;
- alerts fold into the open incident of their camera, zone and kind: a fold key is held only by
  an open incident, and by one whenever an incident of that key is open.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.incidents.desk import Assignee
from hub.incidents.errors import DeskError
from hub.incidents.model import OPEN_STATES, TRANSITIONS, Severity, Source, State
from hub.incidents.tables import deadlines_table, fold_key, incidents_table
from tests.hub.desk_fixtures import DeskRig, desk_rig, principal, replay_incidents

ACTORS = ["dispatcher", "worker1", "worker2", "admin"]
MAIN_PATH = {
    State.NEW: State.ASSIGNED,
    State.VERIFIED: State.ASSIGNED,
    State.ASSIGNED: State.ACKNOWLEDGED,
    State.ACKNOWLEDGED: State.ON_SITE,
    State.ON_SITE: State.RESOLVED,
    State.RESOLVED: State.CLOSED,
    State.CLOSED: State.REOPENED,
    State.REOPENED: State.ASSIGNED,
}
CAMERAS = [
    {"id": "cam-p1", "url": "synthetic://street", "grid": "g1", "property": "p1"},
    {"id": "cam-g2", "url": "synthetic://street", "grid": "g2"},
]
op_strategy = st.one_of(
    st.tuples(
        st.just("alert"),
        st.sampled_from([c["id"] for c in CAMERAS]),
        st.sampled_from(["gate", None]),
        st.sampled_from(["intrusion", "loitering"]),
    ),
    # A walk of several steps along the main path of one of the newest incidents, and a step allowed
    # from where an incident is, so that histories often reach resolved, closed and reopened.
    st.tuples(st.just("walk"), st.integers(1, 2), st.integers(1, 7)),
    st.tuples(st.just("advance"), st.integers(0, 3), st.integers(0, 5)),
    st.tuples(st.just("open"), st.sampled_from(["g1", "g2", "p1", "c1"]), st.sampled_from(list(Severity))),
    st.tuples(st.just("move"), st.integers(0, 3), st.sampled_from(list(State)), st.sampled_from(ACTORS), st.booleans()),
    st.tuples(st.just("assign"), st.integers(0, 3), st.sampled_from(["worker1", "worker2", "g1", "g2"])),
    st.tuples(st.just("time"), st.sampled_from([30.0, 130.0, 700.0, 4000.0, 20000.0])),
)


async def run_ops(rig: DeskRig, ops: list[tuple[Any, ...]]) -> None:
    ids: list[int] = []
    for n, op in enumerate(ops):
        try:
            if op[0] == "open":
                inc, _ = await rig.desk.create(
                    category="c", severity=op[2], title="t", source=Source.MANUAL, actor="dispatcher", node=op[1]
                )
                ids.append(inc.id)
            elif op[0] == "alert":
                ev = await rig.desk.on_alert({"camera": op[1], "zone": op[2], "kind": op[3], "alert_id": f"a{n}"})
                if ev.type == "incident.created":
                    ids.append(int(ev.subject.split(":")[1]))
            elif op[0] == "move" and ids:
                inc = await rig.desk.get(ids[op[1] % len(ids)])
                version = inc.version if op[4] else max(1, inc.version - 1)
                await rig.desk.transition(
                    inc.id,
                    op[2],
                    version,
                    principal(rig.settings, op[3]),
                    note="n",
                    merge_into=ids[0] if ids[0] != inc.id else None,
                )
            elif op[0] == "advance" and ids:
                inc = await rig.desk.get(ids[op[1] % len(ids)])
                allowed = sorted(TRANSITIONS[inc.state])
                if allowed:
                    await rig.desk.transition(
                        inc.id,
                        allowed[op[2] % len(allowed)],
                        inc.version,
                        principal(rig.settings, "dispatcher"),
                        note="n",
                        assignee=Assignee(grid="g1"),
                        merge_into=next((i for i in reversed(ids) if i != inc.id), None),
                    )
            elif op[0] == "walk" and ids:
                iid = ids[-min(op[1], len(ids))]
                for _ in range(op[2]):
                    inc = await rig.desk.get(iid)
                    if inc.state not in MAIN_PATH:
                        break
                    await rig.desk.transition(
                        iid,
                        MAIN_PATH[inc.state],
                        inc.version,
                        principal(rig.settings, "dispatcher"),
                        note="n",
                        assignee=Assignee(person="worker1"),
                    )
            elif op[0] == "assign" and ids:
                inc = await rig.desk.get(ids[op[1] % len(ids)])
                who = Assignee(person=op[2]) if op[2].startswith("worker") else Assignee(grid=op[2])
                await rig.desk.transition(
                    inc.id, State.ASSIGNED, inc.version, principal(rig.settings, "dispatcher"), assignee=who
                )
            elif op[0] == "time":
                rig.clock.advance(op[1])
                await rig.scheduler.fire_due()
        except DeskError:
            pass  # refusals are part of the game; they must leave no trace (checked below)


async def check_invariants(rig: DeskRig) -> None:
    events = await rig.log.read(0, 100_000)
    # The whole row of every incident is the replay of its events.
    replay = replay_incidents([e.as_dict() for e in events])
    rows = {inc.id: inc.as_dict() for inc in await rig.desk.find(limit=500)}
    assert rows == replay

    awaiting_ack: dict[str, bool] = {}
    fired_ids: list[int] = []
    for ev in events:
        if ev.type == "incident.escalated":
            fired_ids.append(ev.data["deadline_id"])
            if ev.data["deadline"] == "ack":
                assert awaiting_ack.get(ev.subject), f"{ev.subject} escalated for ack after it was acknowledged"
        elif ev.subject.startswith("incident:") and "to" in ev.data and "version" in ev.data:
            awaiting_ack[ev.subject] = ev.data["to"] == "assigned"
    assert len(fired_ids) == len(set(fired_ids)), "a deadline fired twice"
    d = deadlines_table
    q = sa.select(d.c.id).where(d.c.fired_at.is_not(None))
    fired_rows = await rig.log.query(lambda conn: conn.execute(q).scalars().all())
    assert sorted(fired_rows) == sorted(fired_ids)

    t = incidents_table
    held = dict(
        await rig.log.query(
            lambda conn: conn.execute(sa.select(t.c.open_fold_key, t.c.id).where(t.c.open_fold_key.is_not(None))).all()
        )
    )
    open_keys: dict[str, set[int]] = {}
    for iid, row in rows.items():
        if row["source"] == "camera" and State(row["state"]) in OPEN_STATES:
            open_keys.setdefault(fold_key(row["camera"], row["zone"], row["category"]), set()).add(iid)
    assert set(held) == set(open_keys), "a fold key is held by a closed incident, or by none while one is open"
    for key, holder in held.items():
        assert holder in open_keys[key]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op_strategy, min_size=6, max_size=40))
def test_random_histories_keep_invariants(ops: list[tuple[Any, ...]]) -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory() as d:
            async with desk_rig(Path(d), cameras=CAMERAS) as rig:
                await run_ops(rig, ops)
                await check_invariants(rig)

    asyncio.run(main())

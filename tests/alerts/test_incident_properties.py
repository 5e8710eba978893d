"""Property tests: random transitions, assignments and clock moves keep the desk's invariants.

- every incident's row equals the replay of its events in the log;
- no deadline fires twice, and every fired deadline has exactly one escalation event;
- an acknowledged incident never escalates for the acknowledge deadline.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.incident_model import Severity, Source, State
from alerts.incidents import Assignee, DeskError, deadlines_table
from tests.alerts.desk_fixtures import DeskRig, desk_rig, principal

ACTORS = ["dispatcher", "worker1", "worker2", "admin"]
op_strategy = st.one_of(
    st.tuples(st.just("open"), st.sampled_from(["g1", "g2", "p1", "c1"]), st.sampled_from(list(Severity))),
    st.tuples(st.just("move"), st.integers(0, 3), st.sampled_from(list(State)), st.sampled_from(ACTORS), st.booleans()),
    st.tuples(st.just("assign"), st.integers(0, 3), st.sampled_from(["worker1", "worker2", "g1", "g2"])),
    st.tuples(st.just("time"), st.sampled_from([30.0, 130.0, 700.0, 4000.0, 20000.0])),
)


async def run_ops(rig: DeskRig, ops: list[tuple[Any, ...]]) -> None:
    ids: list[int] = []
    for op in ops:
        try:
            if op[0] == "open":
                inc, _ = await rig.desk.create(
                    category="c", severity=op[2], title="t", source=Source.MANUAL, actor="dispatcher", node=op[1]
                )
                ids.append(inc.id)
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
    replay: dict[str, dict[str, Any]] = {}
    fired_ids: list[int] = []
    for ev in events:
        r = replay.setdefault(ev.subject, {})
        if ev.type == "incident.created":
            r.update(
                state=ev.data["state"], version=1, responsible=ev.data["incident"]["responsible"], awaiting_ack=False
            )
        elif ev.type == "incident.escalated":
            fired_ids.append(ev.data["deadline_id"])
            if ev.data["deadline"] == "ack":
                assert r["awaiting_ack"], f"{ev.subject} escalated for ack after it was acknowledged"
            r["responsible"] = ev.data["to"]
        elif "to" in ev.data and "version" in ev.data:
            assert ev.data["from"] == r["state"] and ev.data["version"] == r["version"] + 1
            r.update(state=ev.data["to"], version=ev.data["version"])
            if ev.data["to"] == "assigned":
                r["awaiting_ack"] = True
            elif ev.data["to"] != "assigned":
                r["awaiting_ack"] = False
    for inc in await rig.desk.find(limit=500):
        r = replay[inc.subject]
        assert (inc.state.value, inc.version, inc.responsible) == (r["state"], r["version"], r["responsible"])
    assert len(fired_ids) == len(set(fired_ids)), "a deadline fired twice"
    d = deadlines_table
    q = sa.select(d.c.id).where(d.c.fired_at.is_not(None))
    fired_rows = await rig.log.query(lambda conn: conn.execute(q).scalars().all())
    assert sorted(fired_rows) == sorted(fired_ids)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op_strategy, min_size=1, max_size=40))
def test_random_histories_keep_invariants(ops: list[tuple[Any, ...]]) -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory() as d:
            async with desk_rig(Path(d)) as rig:
                await run_ops(rig, ops)
                await check_invariants(rig)

    asyncio.run(main())

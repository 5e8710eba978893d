"""The incident desk: the closed loop, CAS, roles, assignment, escalation, intake from alerts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hub.incidents.desk import Assignee
from hub.incidents.errors import Conflict, Forbidden, Invalid, NotFound
from hub.incidents.model import Severity, Source, State
from tests.hub.conftest import BASE_CONFIG
from tests.hub.desk_fixtures import DeskRig, DueClock, desk_rig, principal

CAMERAS = [{"id": "cam-g1", "url": "synthetic://street", "grid": "g1", "property": "p1"}]


@pytest.fixture
async def rig(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with desk_rig(tmp_path, cameras=CAMERAS) as r:
        yield r


async def open_one(rig: DeskRig, severity: Severity = Severity.P2, node: str = "p1"):  # type: ignore[no-untyped-def]
    inc, _ = await rig.desk.create(
        category="fire", severity=severity, title="smoke", source=Source.MANUAL, actor="dispatcher", node=node
    )
    return inc


async def test_full_loop_with_history(rig: DeskRig) -> None:
    s = rig.settings
    disp, w1 = principal(s, "dispatcher"), principal(s, "worker1")
    inc = await open_one(rig)
    assert (inc.state, inc.version, inc.grid, inc.path) == (State.NEW, 1, "g1", ["d", "s1", "c1", "g1", "p1"])
    inc, _ = await rig.desk.transition(inc.id, State.VERIFIED, 1, disp)
    inc, ev = await rig.desk.transition(inc.id, State.ASSIGNED, 2, disp, assignee=Assignee(grid="g1"))
    assert ev.data["notify"] == ["worker1"]  # worker2 serves g2; g1's on-duty worker is told
    inc, _ = await rig.desk.transition(inc.id, State.ACKNOWLEDGED, 3, w1)
    inc, _ = await rig.desk.transition(inc.id, State.ON_SITE, 4, w1)
    with pytest.raises(Invalid, match="feedback note"):
        await rig.desk.transition(inc.id, State.RESOLVED, 5, w1)
    inc, _ = await rig.desk.transition(inc.id, State.RESOLVED, 5, w1, note="extinguished, photos attached")
    with pytest.raises(Forbidden, match="dispatcher"):
        await rig.desk.transition(inc.id, State.CLOSED, 6, w1)
    inc, _ = await rig.desk.transition(inc.id, State.CLOSED, 6, disp)
    assert (inc.state, inc.version, inc.feedback) == (State.CLOSED, 7, "extinguished, photos attached")
    history = await rig.desk.history(inc.id)
    assert [e.type for e in history] == [
        "incident.created",
        "incident.verified",
        "incident.assigned",
        "incident.acknowledged",
        "incident.on_site",
        "incident.resolved",
        "incident.closed",
    ]
    assert [e.actor for e in history][3:6] == ["worker1"] * 3


async def test_illegal_and_stale_transitions_name_what_is_allowed(rig: DeskRig) -> None:
    disp = principal(rig.settings, "dispatcher")
    inc = await open_one(rig)
    with pytest.raises(Conflict) as info:
        await rig.desk.transition(inc.id, State.CLOSED, 1, disp)
    assert info.value.extra["allowed"] == ["assigned", "dismissed", "merged", "verified"]
    await rig.desk.transition(inc.id, State.VERIFIED, 1, disp)
    with pytest.raises(Conflict) as info:
        await rig.desk.transition(inc.id, State.DISMISSED, 1, disp)
    assert info.value.extra["current_version"] == 2
    with pytest.raises(NotFound):
        await rig.desk.transition(9999, State.VERIFIED, 1, disp)
    assert [e.type for e in await rig.desk.history(inc.id)] == ["incident.created", "incident.verified"]


async def test_concurrent_transitions_one_wins(rig: DeskRig) -> None:
    disp = principal(rig.settings, "dispatcher")
    inc = await open_one(rig)
    results = await asyncio.gather(
        *(rig.desk.transition(inc.id, State.VERIFIED, 1, disp) for _ in range(10)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
    assert (await rig.desk.get(inc.id)).version == 2


async def test_worker_acts_only_on_their_own(rig: DeskRig) -> None:
    s = rig.settings
    disp, w1, w2, viewer = (principal(s, u) for u in ("dispatcher", "worker1", "worker2", "viewer"))
    inc = await open_one(rig)
    with pytest.raises(NotFound):  # not their grid: they do not even see it
        await rig.desk.transition(inc.id, State.VERIFIED, 1, w2)
    with pytest.raises(Forbidden):
        await rig.desk.transition(inc.id, State.VERIFIED, 1, w1)
    await rig.desk.transition(inc.id, State.ASSIGNED, 1, disp, assignee=Assignee(person="worker2"))
    with pytest.raises(Forbidden, match="assigned worker"):
        await rig.desk.transition(inc.id, State.ACKNOWLEDGED, 2, w1)
    with pytest.raises(Forbidden):
        await rig.desk.transition(inc.id, State.DISMISSED, 2, viewer)
    inc, _ = await rig.desk.transition(inc.id, State.ACKNOWLEDGED, 2, w2)
    assert inc.state is State.ACKNOWLEDGED
    assert rig.desk.allowed_for(inc, w2) == ["on_site", "resolved"]


async def test_assignment_validation_and_suggestions(rig: DeskRig) -> None:
    disp = principal(rig.settings, "dispatcher")
    inc = await open_one(rig)
    for bad in (None, Assignee(), Assignee(person="worker1", grid="g1"), Assignee(person="ghost"), Assignee(grid="c1")):
        with pytest.raises(Invalid):
            await rig.desk.transition(inc.id, State.ASSIGNED, 1, disp, assignee=bad)
    # g1's on-duty worker first, then the neighbouring grid g2 (its worker is off duty: not suggested).
    assert [p["id"] for p in rig.desk.suggestions(inc)] == ["worker1"]


async def test_merge_and_reopen_window(rig: DeskRig) -> None:
    disp = principal(rig.settings, "dispatcher")
    a, b = await open_one(rig), await open_one(rig)
    with pytest.raises(Invalid):
        await rig.desk.transition(a.id, State.MERGED, 1, disp, merge_into=a.id)
    a, _ = await rig.desk.transition(a.id, State.MERGED, 1, disp, merge_into=b.id)
    assert (a.state, a.merged_into) == (State.MERGED, b.id)
    b, _ = await rig.desk.transition(b.id, State.ASSIGNED, 1, disp, assignee=Assignee(person="worker1"))
    b, _ = await rig.desk.transition(b.id, State.ACKNOWLEDGED, 2, disp)
    b, _ = await rig.desk.transition(b.id, State.RESOLVED, 3, disp, note="done")
    b, _ = await rig.desk.transition(b.id, State.CLOSED, 4, disp)
    rig.clock.advance(rig.settings.incidents.reopen_window_s + 1)
    with pytest.raises(Conflict, match="reopen window"):
        await rig.desk.transition(b.id, State.REOPENED, 5, disp)


async def test_missed_deadlines_climb_the_tree_once_each(rig: DeskRig) -> None:
    disp, w1 = principal(rig.settings, "dispatcher"), principal(rig.settings, "worker1")
    dl = rig.settings.incidents.deadlines["P1"]
    inc = await open_one(rig, Severity.P1)
    await rig.desk.transition(inc.id, State.ASSIGNED, 1, disp, assignee=Assignee(person="worker1"))
    rig.clock.advance(dl.ack_s - 1)
    assert await rig.scheduler.fire_due() == 0
    rig.clock.advance(2)
    assert await rig.scheduler.fire_due() == 1
    assert await rig.scheduler.fire_due() == 0  # exactly once
    inc = await rig.desk.get(inc.id)
    assert inc.responsible == "c1"
    esc = [e for e in await rig.desk.history(inc.id) if e.type == "incident.escalated"]
    assert esc[0].data["due_at"] <= esc[0].data["fired_at"]  # when it was due; when the scheduler saw it
    assert esc[0].data | {"due_at": 0, "fired_at": 0, "deadline_id": 0} == {
        "deadline": "ack",
        "deadline_id": 0,
        "from": "g1",
        "to": "c1",
        "level": "community",
        "leader": "comm-lead",
        "notify": ["comm-lead"],
        "due_at": 0,
        "fired_at": 0,
        # Who may read it besides the command center: now also the community's leader.
        "audience": ["grid:g1", "person:comm-lead", "person:worker1", "user:dispatcher"],
    }
    rig.clock.advance(dl.ack_s + 1)
    assert await rig.scheduler.fire_due() == 1
    assert (await rig.desk.get(inc.id)).responsible == "s1"
    # Acknowledging stops the acknowledge deadline: no more ack escalations, ever.
    await rig.desk.transition(inc.id, State.ACKNOWLEDGED, 2, w1)
    rig.clock.advance(dl.ack_s * 10)
    await rig.scheduler.fire_due()
    fired_kinds = [e.data["deadline"] for e in await rig.desk.history(inc.id) if e.type == "incident.escalated"]
    assert fired_kinds.count("ack") == 2 and "arrive" in fired_kinds


async def test_scheduler_loop_fires_when_time_moves(rig: DeskRig) -> None:
    disp = principal(rig.settings, "dispatcher")
    inc = await open_one(rig, Severity.P1)
    task = asyncio.create_task(rig.scheduler.run())
    try:
        await rig.desk.transition(inc.id, State.ASSIGNED, 1, disp, assignee=Assignee(grid="g1"))
        rig.clock.advance(rig.settings.incidents.deadlines["P1"].ack_s + 1)
        async with asyncio.timeout(10):
            while rig.scheduler.fired < 1:  # noqa: ASYNC110  (polling a counter in a test)
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.wait([task])
    assert (await rig.desk.get(inc.id)).responsible == "c1"


async def test_alerts_fold_into_one_open_incident(rig: DeskRig) -> None:
    alert = {"camera": "cam-g1", "zone": "gate", "kind": "intrusion", "score": 0.9}
    evs = await asyncio.gather(*(rig.desk.on_alert({**alert, "alert_id": f"a{i}"}) for i in range(20)))
    created = [e for e in evs if e.type == "incident.created"]
    assert len(created) == 1 and sum(e.type == "incident.folded" for e in evs) == 19
    inc = (await rig.desk.find())[0]
    assert (inc.count, inc.state, inc.severity, inc.grid, inc.camera, inc.zone) == (
        20,
        State.NEW,
        Severity.P2,
        "g1",
        "cam-g1",
        "gate",
    )
    # A fold is a change a list sorted by "last updated" must show.
    rig.clock.advance(60)
    await rig.desk.on_alert({**alert, "alert_id": "late"})
    folded = await rig.desk.get(inc.id)
    assert folded.updated_at == folded.last_seen == rig.clock.now() and folded.count == 21
    await rig.desk.on_alert({**alert, "kind": "loitering"})
    assert len(await rig.desk.find()) == 2
    # Once dismissed, the next alert opens a new incident.
    await rig.desk.transition(inc.id, State.DISMISSED, 1, principal(rig.settings, "dispatcher"))
    ev = await rig.desk.on_alert(alert)
    assert ev.type == "incident.created"
    assert len(await rig.desk.find()) == 3


async def test_alert_after_resolution_opens_a_new_incident_and_reopened_ones_fold_again(rig: DeskRig) -> None:
    disp, w1 = principal(rig.settings, "dispatcher"), principal(rig.settings, "worker1")
    alert = {"camera": "cam-g1", "zone": "gate", "kind": "intrusion"}

    async def file(n: int) -> tuple[str, int]:
        ev = await rig.desk.on_alert({**alert, "alert_id": f"a{n}"})
        return ev.type, int(ev.subject.split(":")[1])

    _, a = await file(1)
    await rig.desk.transition(a, State.ASSIGNED, 1, disp, assignee=Assignee(person="worker1"))
    await rig.desk.transition(a, State.ACKNOWLEDGED, 2, w1)
    await rig.desk.transition(a, State.RESOLVED, 3, w1, note="gate locked")
    # The fix is reported and awaits review: the intruder coming back is a new incident.
    kind, b = await file(2)
    assert kind == "incident.created" and b != a
    assert await file(3) == ("incident.folded", b)
    assert ((await rig.desk.get(a)).count, (await rig.desk.get(b)).count) == (1, 2)
    # The review rejects the fix: `a` is open again, but `b` is the one alerts fold into…
    await rig.desk.transition(a, State.REOPENED, 4, disp)
    assert await file(4) == ("incident.folded", b)
    # …until `b` is dismissed: then they fold into `a`, the open one of that camera, zone and kind.
    await rig.desk.transition(b, State.DISMISSED, 1, disp)
    assert await file(5) == ("incident.folded", a)
    # Closed, then reopened with no other incident open for the key: alerts fold into it again.
    await rig.desk.transition(a, State.ASSIGNED, 5, disp, assignee=Assignee(person="worker1"))
    await rig.desk.transition(a, State.ACKNOWLEDGED, 6, w1)
    await rig.desk.transition(a, State.RESOLVED, 7, w1, note="new lock")
    await rig.desk.transition(a, State.CLOSED, 8, disp)
    await rig.desk.transition(a, State.REOPENED, 9, disp)
    assert await file(6) == ("incident.folded", a)
    assert (await rig.desk.get(a)).count == 3


async def test_deadline_armed_during_a_scheduler_pass_fires_on_time(tmp_path: Path) -> None:
    # The scheduler's pass reads the next deadline from the store; one armed while that read is
    # under way must still wake it, even if the previous pass's next deadline (fired in this very
    # pass) was earlier. A clock that wakes sleepers only at their time, like the system clock.
    clock = DueClock()
    async with desk_rig(tmp_path, clock=clock, cameras=CAMERAS) as rig:
        disp, s = principal(rig.settings, "dispatcher"), rig.settings.incidents
        p1_ack, p2_ack = s.deadlines["P1"].ack_s, s.deadlines["P2"].ack_s
        a = await open_one(rig, Severity.P2)
        t0 = rig.clock.now()
        real_next_due = rig.scheduler._next_due
        paused, resume = asyncio.Event(), asyncio.Event()

        async def next_due_then_pause() -> float | None:
            value = await real_next_due()
            paused.set()
            await resume.wait()
            return value

        task = asyncio.create_task(rig.scheduler.run())
        try:
            async with asyncio.timeout(10):
                await rig.desk.transition(a.id, State.ASSIGNED, 1, disp, assignee=Assignee(grid="g1"))
                # Between passes: asleep until `a`'s acknowledge deadline.
                while not (clock.sleeping and rig.desk.next_deadline == t0 + p2_ack):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                rig.scheduler._next_due = next_due_then_pause  # type: ignore[method-assign]
                rig.clock.advance(p2_ack + 1)  # `a` misses its acknowledge deadline
                await paused.wait()  # the pass fired it and read the next deadline: `a`'s at the next level
                assert rig.scheduler.fired == 1
                # Now `b` is opened and assigned: due before that next deadline, after the one just fired.
                b = await open_one(rig, Severity.P1)
                await rig.desk.transition(b.id, State.ASSIGNED, 1, disp, assignee=Assignee(grid="g1"))
                rig.scheduler._next_due = real_next_due  # type: ignore[method-assign]
                resume.set()
                assert t0 + p2_ack < rig.clock.now() + p1_ack < t0 + 2 * p2_ack
                rig.clock.advance(p1_ack + 1)
                while rig.scheduler.fired < 2:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
        finally:
            task.cancel()
            await asyncio.wait([task])
        assert ((await rig.desk.get(a.id)).responsible, (await rig.desk.get(b.id)).responsible) == ("c1", "c1")


async def test_leader_made_responsible_sees_the_incident(tmp_path: Path) -> None:
    users = [*BASE_CONFIG["users"], {"username": "comm-lead", "roles": ["worker"]}]
    async with desk_rig(tmp_path, cameras=CAMERAS, users=users) as rig:
        disp, lead = principal(rig.settings, "dispatcher"), principal(rig.settings, "comm-lead")
        inc = await open_one(rig, Severity.P1)
        other = await open_one(rig, Severity.P1, node="g2")
        assert not rig.desk.can_see(inc, lead) and await rig.desk.find(grids=lead.grids, person=lead.person) == []
        await rig.desk.transition(inc.id, State.ASSIGNED, 1, disp, assignee=Assignee(person="worker1"))
        rig.clock.advance(rig.settings.incidents.deadlines["P1"].ack_s + 1)
        assert await rig.scheduler.fire_due() == 1  # climbs from g1 to c1, led by comm-lead
        inc = await rig.desk.get(inc.id)
        assert inc.responsible == "c1" and rig.desk.can_see(inc, lead)
        found = await rig.desk.find(grids=lead.grids, person=lead.person, username=lead.username)
        assert [i.id for i in found] == [inc.id]  # not `other`: it has not climbed to them
        # Still theirs to follow once it climbs further (to the street).
        rig.clock.advance(rig.settings.incidents.deadlines["P1"].ack_s + 1)
        await rig.scheduler.fire_due()
        inc = await rig.desk.get(inc.id)
        assert inc.responsible == "s1" and rig.desk.can_see(inc, lead)
        assert not rig.desk.can_see(await rig.desk.get(other.id), lead)


async def test_a_report_without_a_place_is_placed_and_then_climbs_the_tree(rig: DeskRig) -> None:
    # A resident rarely knows a node id: the report comes in with none. Verifying it places it;
    # from there its grid sees it, and a missed deadline climbs to the community, not to nowhere.
    disp = principal(rig.settings, "dispatcher")
    inc, _ = await rig.desk.create(
        category="streetlight", severity=Severity.P1, title="dark", source=Source.RESIDENT, actor="public"
    )
    assert (inc.grid, inc.responsible) == (None, None)
    with pytest.raises(Conflict, match="verified first") as refused:
        await rig.desk.transition(inc.id, State.ASSIGNED, 1, disp, assignee=Assignee(grid="g1"))
    assert "assigned" not in refused.value.extra["allowed"] and "verified" in refused.value.extra["allowed"]
    with pytest.raises(Invalid, match="placed when verifying or assigning"):
        await rig.desk.transition(inc.id, State.DISMISSED, 1, disp, node="g1")
    with pytest.raises(Invalid, match="does not exist"):
        await rig.desk.transition(inc.id, State.VERIFIED, 1, disp, node="nowhere")
    inc, ev = await rig.desk.transition(inc.id, State.VERIFIED, 1, disp, node="p1")
    assert (inc.node, inc.grid, inc.responsible, inc.path) == ("p1", "g1", "g1", ["d", "s1", "c1", "g1", "p1"])
    assert ev.grid == "g1" and ev.data["place"]["grid"] == "g1"
    assert rig.desk.can_see(inc, principal(rig.settings, "worker1"))  # its grid sees it now
    inc, _ = await rig.desk.transition(inc.id, State.ASSIGNED, 2, disp, assignee=Assignee(person="worker1"))
    rig.clock.advance(rig.settings.incidents.deadlines["P1"].ack_s + 1)
    assert await rig.scheduler.fire_due() == 1
    assert (await rig.desk.get(inc.id)).responsible == "c1"


async def test_assigning_an_unplaced_incident_places_it_where_it_is_handled(rig: DeskRig) -> None:
    disp = principal(rig.settings, "dispatcher")
    made = [
        (
            await rig.desk.create(
                category="c", severity=Severity.P3, title="t", source=Source.MANUAL, actor="dispatcher"
            )
        )[0]
        for _ in range(2)
    ]
    a, _ = await rig.desk.transition(made[0].id, State.ASSIGNED, 1, disp, assignee=Assignee(grid="g1"))
    b, _ = await rig.desk.transition(made[1].id, State.ASSIGNED, 1, disp, assignee=Assignee(person="worker2"))
    assert (a.grid, a.responsible) == ("g1", "g1")
    assert (b.grid, b.responsible) == ("g2", "g2")  # worker2's grid
    # Only a worker can acknowledge and handle it: assigning to anyone else is refused.
    c = await open_one(rig)
    with pytest.raises(Invalid, match="not a worker"):
        await rig.desk.transition(c.id, State.ASSIGNED, 1, disp, assignee=Assignee(person="viewer"))


async def test_an_incident_nobody_dispatches_climbs_the_tree(rig: DeskRig) -> None:
    disp = principal(rig.settings, "dispatcher")
    assign_s = rig.settings.incidents.deadlines["P1"].seconds("assign")

    async def climbs(incident_id: int) -> list[tuple[str, str]]:
        history = await rig.desk.history(incident_id)
        return [
            (e.data["from"], e.data["to"])
            for e in history
            if e.type == "incident.escalated" and e.data["deadline"] == "assign"
        ]

    left = await open_one(rig, Severity.P1)  # placed at p1 (grid g1) and then left alone
    sent = await open_one(rig, Severity.P1)
    await rig.desk.transition(left.id, State.VERIFIED, 1, disp)  # verifying is not dispatching
    await rig.desk.transition(sent.id, State.ASSIGNED, 1, disp, assignee=Assignee(grid="g1"))
    unplaced, _ = await rig.desk.create(
        category="c", severity=Severity.P1, title="t", source=Source.RESIDENT, actor="public"
    )
    rig.clock.advance(assign_s - 1)
    await rig.scheduler.fire_due()
    assert await climbs(left.id) == []
    await rig.desk.transition(unplaced.id, State.VERIFIED, 1, disp, node="g2")  # its clock starts now
    rig.clock.advance(2)
    await rig.scheduler.fire_due()
    assert await climbs(left.id) == [("g1", "c1")]
    assert await climbs(sent.id) == [] and await climbs(unplaced.id) == []
    rig.clock.advance(assign_s)
    await rig.scheduler.fire_due()
    assert await climbs(unplaced.id) == [("g2", "c1")]  # its own clock ran out too
    # Dispatching it at last stops the climb.
    left = await rig.desk.get(left.id)
    await rig.desk.transition(left.id, State.ASSIGNED, left.version, disp, assignee=Assignee(grid="g1"))
    so_far = await climbs(left.id)
    rig.clock.advance(assign_s * 10)
    await rig.scheduler.fire_due()
    assert await climbs(left.id) == so_far


def test_the_dispatch_deadline_defaults_to_the_acknowledge_deadline() -> None:
    from hub.config import DeadlinesConfig

    assert DeadlinesConfig(ack_s=60, arrive_s=600, resolve_s=3600).seconds("assign") == 60
    assert DeadlinesConfig(assign_s=30, ack_s=60, arrive_s=600, resolve_s=3600).seconds("assign") == 30

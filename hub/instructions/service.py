"""Instructions: one message to the right people at once, with a receipt per recipient.

The recipient list is resolved and frozen in the same transaction as the
``instruction.sent`` event. Receipts only move forward (queued → delivered → read →
acknowledged/replied); each step is an event, and a repeated step is a no-op. Workers
receive instructions on the worker channel, which resumes from the log by event id.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from alerts.clock import Clock, SystemClock
from hub.access.auth import Principal
from hub.config import InstructionsConfig, Role, Settings
from hub.incidents.deadlines import SHARED_RESCAN_S
from hub.incidents.errors import Conflict, DeskError, Forbidden, Invalid, NotFound
from hub.instructions.model import DONE, RANK, Instruction, Priority, ReceiptState, Targets, subject_of
from hub.people.directory import Directory, Person
from hub.store.eventlog import NO_EVENT_AFTER, EventDraft, EventLog, metadata
from hub.store.events import AUDIENCE_KEY, Event, EventFilter, audience

logger = logging.getLogger(__name__)

instructions_table = sa.Table(
    "instructions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("sent_by", sa.String(64), nullable=False),
    sa.Column("sent_at", sa.Float, nullable=False),
    sa.Column("deadline_at", sa.Float),
    sa.Column("escalate_at", sa.Float),
    sa.Column("renotified_at", sa.Float),
    sa.Column("escalated_at", sa.Float),
    sa.Column("reply_options", sa.Text, nullable=False, default="[]"),
    sa.Column("attachments", sa.Text, nullable=False, default="[]"),
    sa.Column("targets", sa.Text, nullable=False),
    sa.Column("cancelled", sa.Boolean, nullable=False, default=False),
    sa.Column("amendments", sa.Integer, nullable=False, default=0),
    sa.Column("recipients", sa.Integer, nullable=False),
)

recipients_table = sa.Table(
    "instruction_recipients",
    metadata,
    sa.Column("instruction_id", sa.Integer, primary_key=True),
    sa.Column("person", sa.String(64), primary_key=True, index=True),
    sa.Column("grid", sa.String(64)),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("reply", sa.Text),
    sa.Column("delivered_at", sa.Float),
    sa.Column("read_at", sa.Float),
    sa.Column("done_at", sa.Float),
)

attachments_table = sa.Table(
    "instruction_attachments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("instruction_id", sa.Integer, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("content_type", sa.String(64), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("added_by", sa.String(64), nullable=False),
    sa.Column("added_at", sa.Float, nullable=False),
)

STEP_EVENTS = {
    ReceiptState.DELIVERED: "instruction.delivered",
    ReceiptState.READ: "instruction.read",
    ReceiptState.ACKNOWLEDGED: "instruction.acknowledged",
    ReceiptState.REPLIED: "instruction.replied",
}
CACHE_INSTRUCTIONS = 256
"""Recipient sets kept in memory (each is looked up by every worker connection)."""

INBOX_OPEN_MAX = 1000
"""Most unconfirmed instructions one worker's inbox snapshot carries (the newest ones)."""

INBOX_NOTICES = 20
"""Notices (as a leader) an inbox snapshot shows, the newest."""
INBOX_RECENT = 50
"""Confirmed or cancelled instructions an inbox snapshot also carries, newest first, for context."""


PREVIEW_SAMPLE = 8
"""Names a preview of the targets shows."""

FOLLOW_UPS = (("renotified_at", "deadline_at"), ("escalated_at", "escalate_at"))
"""(done-at column, due-at column) of the two follow-up steps: re-notify, then tell the leader."""


def _follow_up_pending(done: str, at: str) -> Any:
    """Instructions whose follow-up step is armed, not yet taken, and still has someone to chase."""
    t = instructions_table
    return sa.and_(t.c[done].is_(None), t.c[at].is_not(None), t.c.cancelled.is_(False), _unacknowledged_exist())


def _unacknowledged_exist() -> Any:
    r, t = recipients_table, instructions_table
    return sa.exists().where(r.c.instruction_id == t.c.id, r.c.rank < RANK[ReceiptState.ACKNOWLEDGED])


class NoChange(DeskError):
    """The receipt is already at or past that step (repeats are idempotent)."""

    status = 200


def row_instruction(r: Any) -> Instruction:
    """An instruction from its table row."""
    return Instruction(
        id=r.id,
        text=r.text,
        priority=Priority(r.priority),
        sent_by=r.sent_by,
        sent_at=r.sent_at,
        sent_event=0,
        deadline_at=r.deadline_at,
        escalate_at=r.escalate_at,
        reply_options=json.loads(r.reply_options),
        attachments=json.loads(r.attachments),
        targets=json.loads(r.targets),
        cancelled=bool(r.cancelled),
        amendments=r.amendments,
        recipients=r.recipients,
    )


def _receipts(conn: Connection, instruction_id: int) -> list[dict[str, Any]]:
    r = recipients_table
    rows = conn.execute(sa.select(r).where(r.c.instruction_id == instruction_id).order_by(r.c.person)).all()
    return [{k: v for k, v in row._mapping.items() if k not in ("instruction_id", "rank")} for row in rows]


class InstructionDesk:
    """Sends instructions, records receipts, follows up on the unacknowledged."""

    def __init__(self, log: EventLog, directory: Directory, settings: Settings, clock: Clock | None = None) -> None:
        self.log = log
        self.directory = directory
        self.config: InstructionsConfig = settings.instructions
        self.clock: Clock = clock or SystemClock()
        # Who can receive: people with a login (a person without one has no device).
        self.login_of: dict[str, str] = {}
        for u in settings.users:
            self.login_of.setdefault(u.person or u.username, u.username)
        self._members: OrderedDict[int, frozenset[str]] = OrderedDict()
        # One recipient query per instruction in flight: on a node that did not send it, a
        # broadcast reaches every worker connection at once, and each would ask the store.
        self._members_loading: dict[int, asyncio.Task[frozenset[str]]] = {}
        self._dirty: set[int] = set()
        self.text_by_event: OrderedDict[int, str] = OrderedDict()
        """Worker-channel message texts of recent events (bounded by the channel)."""
        self.persons_by_event: OrderedDict[int, frozenset[str]] = OrderedDict()
        """Re-notified people of recent events, as sets."""
        self._wake = asyncio.Event()

    # ------------------------------------------------------------------ targets

    def resolve(self, targets: Targets) -> tuple[list[Person], list[str]]:
        """``(recipients, people without a login)``; an unknown name is a 422 naming it."""
        d = self.directory
        chosen: dict[str, Person] = {}
        for pid in targets.people:
            if pid not in d.people:
                raise Invalid(f"unknown person {pid!r}", field="targets.people")
            chosen[pid] = d.people[pid]
        for role in targets.roles:
            if role not in {r.value for r in Role}:
                raise Invalid(f"unknown role {role!r}", field="targets.roles")
            chosen.update({p.id: p for p in d.people.values() if role in p.roles})
        for node in targets.nodes:
            if node not in d.nodes:
                raise Invalid(f"unknown node {node!r}", field="targets.nodes")
            chosen.update({p.id: p for p in d.members(node)})
        people = [p for p in chosen.values() if p.on_duty or not targets.on_duty_only]
        reachable = [p for p in people if p.id in self.login_of]
        return sorted(reachable, key=lambda p: p.id), sorted(p.id for p in people if p.id not in self.login_of)

    def preview(self, targets: Targets, sample: int = PREVIEW_SAMPLE) -> dict[str, Any]:
        """Whom ``targets`` reach if sent now, by :meth:`resolve` (as :meth:`send` freezes them):
        ``{"count", "sample": [{"id", "name"}], "unreachable"}``; an unknown name is a 422."""
        people, unreachable = self.resolve(targets)
        return {
            "count": len(people),
            "sample": [{"id": p.id, "name": p.name} for p in people[:sample]],
            "unreachable": unreachable,
        }

    # ------------------------------------------------------------------ reading

    async def get(self, instruction_id: int) -> Instruction:
        """One instruction, or :class:`NotFound`."""

        def _read(conn: Connection) -> Any:
            row = (conn.execute(sa.select(instructions_table).where(instructions_table.c.id == instruction_id))).first()
            return row

        row = await self.log.query(_read)
        if row is None:
            raise NotFound(f"no instruction {instruction_id}")
        return row_instruction(row)

    async def members(self, instruction_id: int) -> frozenset[str]:
        """The frozen recipient set (cached: every worker connection asks).

        Callers that miss the cache together share one query (single flight); a caller that is
        cancelled does not cancel it for the others.
        """
        cached = self._members.get(instruction_id)
        if cached is not None:
            self._members.move_to_end(instruction_id)
            return cached
        loading = self._members_loading.get(instruction_id)
        if loading is None:
            loading = asyncio.create_task(self._load_members(instruction_id), name=f"members {instruction_id}")
            self._members_loading[instruction_id] = loading
            loading.add_done_callback(lambda _t: self._members_loading.pop(instruction_id, None))
        return await asyncio.shield(loading)

    async def _load_members(self, instruction_id: int) -> frozenset[str]:
        r = recipients_table

        def _read(conn: Connection) -> Any:
            people = (conn.execute(sa.select(r.c.person).where(r.c.instruction_id == instruction_id))).scalars().all()
            return people

        found = frozenset(await self.log.query(_read))
        if found:  # an id not sent yet must not be remembered as "nobody"
            self._remember(instruction_id, found)
        return found

    def _remember(self, instruction_id: int, people: frozenset[str]) -> None:
        self._members[instruction_id] = people
        while len(self._members) > CACHE_INSTRUCTIONS:
            self._members.popitem(last=False)

    async def inbox(self, person: str) -> list[dict[str, Any]]:
        """What ``person``'s inbox shows now, oldest first: ``{"instruction", "state", "reply"}``.

        Every instruction they have not confirmed (up to :data:`INBOX_OPEN_MAX`), and the
        :data:`INBOX_RECENT` newest they confirmed or that were cancelled, so a page that starts
        empty (a reload, a new device) shows the same inbox as one that never closed.
        """
        r, t = recipients_table, instructions_table
        base = sa.select(t, r.c.state, r.c.reply).join(r, r.c.instruction_id == t.c.id).where(r.c.person == person)
        is_open = sa.and_(t.c.cancelled.is_(False), r.c.rank < RANK[ReceiptState.ACKNOWLEDGED])
        queries = [
            base.where(is_open).order_by(t.c.id.desc()).limit(INBOX_OPEN_MAX),
            base.where(sa.not_(is_open)).order_by(t.c.id.desc()).limit(INBOX_RECENT),
        ]

        def _read(conn: Connection) -> list[Any]:
            return [row for q in queries for row in conn.execute(q).all()]

        rows = sorted(await self.log.query(_read), key=lambda row: row.id)
        return [{"instruction": row_instruction(row).message(), "state": row.state, "reply": row.reply} for row in rows]

    async def notices(self, person: str) -> list[dict[str, Any]]:
        """The newest :data:`INBOX_NOTICES` notices to ``person`` as a leader, oldest first, in the
        form ``/ws/worker`` sends them: whom of their grid an instruction still waits for."""
        flt = EventFilter(
            type_prefixes=("instruction.escalated",),
            grids=frozenset(),
            audience=frozenset(audience([], [person], [])),
        )
        events = await self.log.read(0, INBOX_NOTICES, flt, before=NO_EVENT_AFTER)
        out = []
        for ev in events:
            for n in ev.data.get("notices", ()):
                if n["leader"] == person:
                    out.append(notice_message(ev, n["persons"]))
        return out

    async def receipts(self, instruction_id: int) -> list[dict[str, Any]]:
        """Every recipient's receipt."""
        return await self.log.query(lambda conn: _receipts(conn, instruction_id))

    def progress(self, receipts: Iterable[dict[str, Any]]) -> dict[str, Any]:
        """Counts per state, and per node of the tree (each grid and every node above it)."""
        per_state = {s.value: 0 for s in ReceiptState}
        per_node: dict[str, dict[str, int]] = {}
        for rec in receipts:
            per_state[rec["state"]] += 1
            nodes = self.directory.path(rec["grid"]) if rec["grid"] in self.directory.nodes else ["(none)"]
            for n in nodes:
                counts = per_node.setdefault(n, {s.value: 0 for s in ReceiptState})
                counts[rec["state"]] += 1
        return {"per_state": per_state, "per_node": per_node}

    # ------------------------------------------------------------------ writing

    async def send(
        self,
        *,
        text: str,
        priority: Priority,
        targets: Targets,
        who: Principal,
        deadline_s: float | None = None,
        reply_options: list[str] | None = None,
        attachments: list[int] | None = None,
    ) -> tuple[Instruction, Event, list[str]]:
        """Resolve and freeze the recipients, store the instruction, log ``instruction.sent``."""
        people, unreachable = self.resolve(targets)
        if not people:
            raise Invalid(
                "the targets resolve to nobody who can receive instructions", field="targets", unreachable=unreachable
            )
        now = self.clock.now()
        deadline_at = now + deadline_s if deadline_s else None
        escalate_at = deadline_at + self.config.escalate_after_s if deadline_at else None
        attachments = attachments or []
        grid_of = {p.id: (p.grids[0] if p.grids else None) for p in people}
        result: list[Instruction] = []

        def op(conn: Connection, draft: EventDraft) -> None:
            a = attachments_table
            if attachments:
                found = (
                    (conn.execute(sa.select(a.c.id).where(a.c.id.in_(attachments), a.c.instruction_id.is_(None))))
                    .scalars()
                    .all()
                )
                missing = sorted(set(attachments) - set(found))
                if missing:
                    raise Invalid(f"unknown or already used attachments {missing}", field="attachments")
            new_id = (
                conn.execute(
                    instructions_table.insert()
                    .values(
                        text=text,
                        priority=priority.value,
                        sent_by=who.username,
                        sent_at=now,
                        deadline_at=deadline_at,
                        escalate_at=escalate_at,
                        reply_options=json.dumps(reply_options or []),
                        attachments=json.dumps(attachments),
                        targets=json.dumps(targets.as_dict()),
                        cancelled=False,
                        amendments=0,
                        recipients=len(people),
                    )
                    .returning(instructions_table.c.id)
                )
            ).scalar_one()
            conn.execute(
                recipients_table.insert(),
                [
                    {"instruction_id": new_id, "person": p.id, "grid": grid_of[p.id], "state": "queued", "rank": 0}
                    for p in people
                ],
            )
            if attachments:
                conn.execute(a.update().where(a.c.id.in_(attachments)).values(instruction_id=new_id))
            inst = Instruction(
                new_id,
                text,
                priority,
                who.username,
                now,
                0,
                deadline_at,
                escalate_at,
                list(reply_options or []),
                attachments,
                targets.as_dict(),
                False,
                0,
                len(people),
            )
            result.append(inst)
            draft.subject = subject_of(new_id)
            draft.data = {
                "instruction": inst.message(),
                "recipients": len(people),
                "targets": targets.as_dict(),
                "unreachable": unreachable,
            }

        ev = await self.log.append("instruction.sent", "instruction:?", who.username, op=op)
        inst = result[0]
        inst.sent_event = ev.id
        self._remember(inst.id, frozenset(p.id for p in people))
        self._wake.set()
        logger.info("instruction %d: sent by %s to %d people (%s)", inst.id, who.username, len(people), priority.value)
        return inst, ev, unreachable

    async def add_attachment(self, kind: str, content_type: str, size: int, path: str, who: Principal) -> int:
        """Record an uploaded attachment (not yet part of an instruction); its id."""
        now = self.clock.now()
        a = attachments_table
        ids: list[int] = []

        def op(conn: Connection, draft: EventDraft) -> None:
            aid = (
                conn.execute(
                    a.insert()
                    .values(
                        kind=kind, content_type=content_type, size=size, path=path, added_by=who.username, added_at=now
                    )
                    .returning(a.c.id)
                )
            ).scalar_one()
            ids.append(aid)
            draft.subject = f"attachment:{aid}"

        await self.log.append(
            "attachment.uploaded",
            "attachment:?",
            who.username,
            {"kind": kind, "content_type": content_type, "size": size},
            op=op,
        )
        return ids[0]

    async def receipt(
        self, instruction_id: int, person: str, step: ReceiptState, reply: str | None = None
    ) -> ReceiptState:
        """Move one recipient's receipt forward and log the step; repeats change nothing."""
        members = await self.members(instruction_id)
        if not members:
            raise NotFound(f"no instruction {instruction_id}")
        if person not in members:
            raise Forbidden("this instruction is not addressed to you")
        if reply is not None and not isinstance(reply, str):
            raise Invalid("a reply is text", field="reply")
        if step is ReceiptState.REPLIED:
            if not reply or not reply.strip():
                raise Invalid("a reply needs its text or option", field="reply")
            if len(reply) > self.config.text_max_chars:
                raise Invalid("the reply is too long", field="reply")
        now = self.clock.now()
        column = {ReceiptState.DELIVERED: "delivered_at", ReceiptState.READ: "read_at"}.get(step, "done_at")
        r = recipients_table
        current: list[str] = []

        def op(conn: Connection, draft: EventDraft) -> None:
            t = instructions_table
            if (conn.execute(sa.select(t.c.cancelled).where(t.c.id == instruction_id))).scalar():
                raise Conflict("the instruction was cancelled")
            row = (
                conn.execute(
                    sa.select(r.c.state, r.c.grid).where(r.c.instruction_id == instruction_id, r.c.person == person)
                )
            ).one()
            values: dict[str, Any] = {"state": step.value, "rank": RANK[step], column: now}
            if step is ReceiptState.REPLIED:
                values["reply"] = reply
            res = conn.execute(
                r.update()
                .where(r.c.instruction_id == instruction_id, r.c.person == person, r.c.rank < RANK[step])
                .values(**values)
            )
            if res.rowcount != 1:
                current.append(row.state)
                raise NoChange("already there")
            draft.grid = row.grid
            draft.data = {"person": person, "state": step.value, "grid": row.grid}
            if reply is not None:
                draft.data["reply"] = reply

        try:
            await self.log.append(
                STEP_EVENTS[step], subject_of(instruction_id), self.login_of.get(person, person), op=op
            )
        except NoChange:
            return ReceiptState(current[0])
        self._dirty.add(instruction_id)
        self._wake.set()
        return step

    async def _change(
        self, instruction_id: int, who: Principal, type: str, values: dict[str, Any], data: dict[str, Any]
    ) -> Event:
        t = instructions_table

        def op(conn: Connection, draft: EventDraft) -> None:
            row = (conn.execute(sa.select(t.c.cancelled, t.c.amendments).where(t.c.id == instruction_id))).first()
            if row is None:
                raise NotFound(f"no instruction {instruction_id}")
            if row.cancelled:
                raise Conflict("the instruction was cancelled")
            if type == "instruction.amended":
                values["amendments"] = row.amendments + 1
                draft.data["amendments"] = row.amendments + 1
            conn.execute(t.update().where(t.c.id == instruction_id).values(**values))

        return await self.log.append(type, subject_of(instruction_id), who.username, dict(data), op=op)

    async def cancel(self, instruction_id: int, who: Principal) -> Event:
        """Cancel: no more receipts or follow-ups; recipients are told."""
        ev = await self._change(instruction_id, who, "instruction.cancelled", {"cancelled": True}, {})
        self._dirty.add(instruction_id)
        return ev

    async def amend(self, instruction_id: int, text: str, who: Principal) -> Event:
        """Replace the text; everyone who had it gets the amendment."""
        return await self._change(instruction_id, who, "instruction.amended", {"text": text}, {"text": text})

    async def unacknowledged(self, instruction_id: int) -> list[str]:
        """Recipients who have not acknowledged or replied yet."""
        return [r["person"] for r in await self.receipts(instruction_id) if ReceiptState(r["state"]) not in DONE]

    async def resend(self, instruction_id: int, who: Principal, reason: str = "resent") -> Event | None:
        """Notify the unacknowledged again (``None`` when everyone has confirmed)."""
        inst = await self.get(instruction_id)
        if inst.cancelled:
            raise Conflict("the instruction was cancelled")
        persons = await self.unacknowledged(instruction_id)
        if not persons:
            return None
        return await self.log.append(
            "instruction.renotified",
            subject_of(instruction_id),
            who.username,
            {"persons": persons, "reason": reason, "instruction": inst.message()},
        )

    # ------------------------------------------------------------------ follow-up and progress

    async def run(self) -> None:
        """Owned by the lifespan: re-notify at the deadline, tell leaders later, publish progress."""
        while True:
            self._wake.clear()
            try:
                await self.follow_up()
                await self.publish_progress()
                next_at = await self._next_due()
            except Exception:  # the loop must survive a store hiccup; state is in the tables
                logger.exception("instructions: follow-up pass failed")
                next_at = self.clock.now() + 1.0
            interval = self.config.progress_interval_ms / 1000
            if self.log.shared:  # follow-ups armed on another node that has since died
                next_at = min(next_at or float("inf"), self.clock.now() + SHARED_RESCAN_S)
            if self._dirty:
                next_at = min(next_at or float("inf"), self.clock.now() + interval)
            await self.clock.sleep_until(next_at, self._wake)
            # Coalesce a burst of receipts into one progress event per interval.
            await asyncio.sleep(interval if self._dirty else 0)

    async def _next_due(self) -> float | None:
        t = instructions_table
        queries = [sa.select(sa.func.min(t.c[at])).where(_follow_up_pending(done, at)) for done, at in FOLLOW_UPS]

        def _read(conn: Connection) -> list[Any]:
            return [conn.execute(q).scalar() for q in queries]

        due = [float(x) for x in await self.log.query(_read) if x is not None]
        return min(due) if due else None

    async def follow_up(self) -> int:
        """Handle every deadline due now; returns how many steps were taken."""
        now = self.clock.now()
        t = instructions_table
        queries = [sa.select(t.c.id).where(_follow_up_pending(done, at), t.c[at] <= now) for done, at in FOLLOW_UPS]

        def _read(conn: Connection) -> list[list[int]]:
            return [list(conn.execute(q).scalars().all()) for q in queries]

        renotify, escalate = await self.log.query(_read)
        done = 0
        for iid in renotify:
            done += await self._once(iid, "renotified_at", now)
        for iid in escalate:
            done += await self._once(iid, "escalated_at", now)
        return done

    async def _once(self, instruction_id: int, column: str, now: float) -> int:
        """Re-notify or escalate exactly once (compare-and-set on the column, in the same append).

        An escalation is one ``instruction.escalated`` event carrying every leader's notice, so
        a crash can neither lose some leaders' notices nor repeat the others'.
        """
        waiting = [r for r in await self.receipts(instruction_id) if ReceiptState(r["state"]) not in DONE]
        if not waiting:  # everyone confirmed since the scan: nothing to chase
            return 0
        persons = [r["person"] for r in waiting]
        inst = await self.get(instruction_id)
        t = instructions_table

        def op(conn: Connection, draft: EventDraft) -> None:
            res = conn.execute(
                t.update().where(t.c.id == instruction_id, getattr(t.c, column).is_(None)).values(**{column: now})
            )
            if res.rowcount != 1:
                raise NoChange("handled already")

        data: dict[str, Any] = {"persons": persons, "instruction": inst.message()}
        if column == "renotified_at":
            data["reason"] = "deadline"
            kind = "instruction.renotified"
        else:
            data["notices"] = self._notices(waiting)
            # The leaders' inbox snapshots find their notices by this (an indexed audience).
            leaders = [n["leader"] for n in data["notices"] if n["leader"]]
            data[AUDIENCE_KEY] = sorted(audience([], leaders, []))
            kind = "instruction.escalated"
        try:
            await self.log.append(kind, subject_of(instruction_id), "system", data, op=op)
        except NoChange:
            return 0
        return 1

    def _notices(self, waiting: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``[{"leader", "persons"}]``: who leads the grid of each still unconfirmed receipt.

        People whose grid has no leader are listed under ``leader: None`` (staff see them in the
        event; nobody's channel gets that notice).
        """
        by_leader: dict[str, list[str]] = {}
        for rec in waiting:
            node = self.directory.nodes.get(rec["grid"]) if rec["grid"] else None
            by_leader.setdefault((node.leader if node else None) or "", []).append(rec["person"])
        return [{"leader": leader or None, "persons": people} for leader, people in sorted(by_leader.items())]

    async def publish_progress(self) -> None:
        """One ``instruction.progress`` event per instruction whose receipts changed."""
        dirty, self._dirty = self._dirty, set()
        for iid in sorted(dirty):

            def count(conn: Connection, draft: EventDraft, iid: int = iid) -> None:
                # Counted inside the append's transaction: appends are serialised (across nodes
                # too), so a later progress event never shows older counts than an earlier one.
                draft.data = self.progress(_receipts(conn, iid))

            await self.log.append("instruction.progress", subject_of(iid), "system", op=count)


def notice_message(ev: Event, persons: list[str]) -> dict[str, Any]:
    """What a leader is told of ``ev`` (an ``instruction.escalated``): who of theirs has not confirmed."""
    iid = int(ev.subject.split(":", 1)[1])
    return {"type": "notice", "cursor": ev.id, "id": iid, "persons": persons, "instruction": ev.data["instruction"]}

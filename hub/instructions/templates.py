"""Saved instructions ("typhoon level 2: secure the stalls") with their targets, to send again.

Templates belong to the hub, not to one coordinator: whoever is on shift during the flood finds
the ones their colleagues prepared. Each save or delete is an event (``template.saved``,
``template.deleted``) written in the same transaction as the row, as every durable change is.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.incidents.errors import Invalid, NotFound
from hub.instructions.model import Priority, Targets
from hub.store.eventlog import EventDraft, EventLog, metadata

TEMPLATES_MAX = 200
"""Templates one hub keeps (a city's contingency plans, not a message archive)."""

NAME_MAX_CHARS = 100
"""Longest template name."""

templates_table = sa.Table(
    "instruction_templates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(NAME_MAX_CHARS), nullable=False, unique=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("targets", sa.Text, nullable=False),
    sa.Column("reply_options", sa.Text, nullable=False),
    sa.Column("deadline_s", sa.Float),
    sa.Column("saved_by", sa.String(64), nullable=False),
    sa.Column("saved_at", sa.Float, nullable=False),
)


@dataclass(frozen=True)
class Template:
    """One saved instruction."""

    id: int
    """Template number."""
    name: str
    """What coordinators call it; unique on the hub."""
    text: str
    """The instruction's text."""
    priority: Priority
    """routine, urgent or emergency."""
    targets: dict[str, Any]
    """Targets in the JSON form of :class:`~hub.instructions.model.Targets` (resolved when sent)."""
    reply_options: list[str]
    """Canned replies offered to the worker."""
    deadline_s: float | None
    """Acknowledge within this many seconds of sending."""
    saved_by: str
    """Username of who saved it last."""
    saved_at: float
    """Unix seconds."""

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        d = asdict(self)
        d["priority"] = self.priority.value
        return d


def _row(r: Any) -> Template:
    return Template(
        id=r.id,
        name=r.name,
        text=r.text,
        priority=Priority(r.priority),
        targets=json.loads(r.targets),
        reply_options=json.loads(r.reply_options),
        deadline_s=r.deadline_s,
        saved_by=r.saved_by,
        saved_at=r.saved_at,
    )


class Templates:
    """Reads, saves and deletes the hub's instruction templates through the event log."""

    def __init__(self, log: EventLog) -> None:
        self.log = log

    async def all(self) -> list[Template]:
        """Every template, by name."""
        t = templates_table

        def read(conn: Connection) -> list[Any]:
            return list(conn.execute(sa.select(t).order_by(t.c.name)).all())

        return [_row(r) for r in await self.log.query(read)]

    async def save(
        self,
        *,
        name: str,
        text: str,
        priority: Priority,
        targets: Targets,
        reply_options: list[str],
        deadline_s: float | None,
        who: str,
    ) -> Template:
        """Store a template under ``name``; one of that name already there is replaced (same id)."""
        name = name.strip()
        if not name:
            raise Invalid("a template needs a name", field="name")
        if not text.strip():
            raise Invalid("a template needs the instruction's text", field="text")
        values = {
            "name": name,
            "text": text,
            "priority": priority.value,
            "targets": json.dumps(targets.as_dict()),
            "reply_options": json.dumps(reply_options),
            "deadline_s": deadline_s,
            "saved_by": who,
            "saved_at": time.time(),
        }
        saved: list[int] = []

        def op(conn: Connection, draft: EventDraft) -> None:
            t = templates_table
            old = conn.execute(sa.select(t.c.id).where(t.c.name == name)).scalar()
            if old is None:
                count = conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                if count >= TEMPLATES_MAX:
                    raise Invalid(f"the hub keeps at most {TEMPLATES_MAX} templates: delete one first", field="name")
                new_id = conn.execute(t.insert().values(**values).returning(t.c.id)).scalar_one()
            else:
                conn.execute(t.update().where(t.c.id == old).values(**values))
                new_id = old
            saved.append(new_id)
            draft.subject = f"template:{new_id}"

        await self.log.append("template.saved", "template:?", who, {"name": name}, op=op)
        return await self.get(saved[0])

    async def get(self, template_id: int) -> Template:
        """One template, or :class:`NotFound`."""
        t = templates_table

        def read(conn: Connection) -> Any:
            return conn.execute(sa.select(t).where(t.c.id == template_id)).first()

        row = await self.log.query(read)
        if row is None:
            raise NotFound(f"no template {template_id}")
        return _row(row)

    async def delete(self, template_id: int, who: str) -> None:
        """Remove a template (:class:`NotFound` when there is none of that id)."""

        def op(conn: Connection, draft: EventDraft) -> None:
            t = templates_table
            if conn.execute(t.delete().where(t.c.id == template_id)).rowcount != 1:
                raise NotFound(f"no template {template_id}")

        await self.log.append("template.deleted", f"template:{template_id}", who, {}, op=op)

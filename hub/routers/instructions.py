"""Instructions over HTTP: send, follow progress, acknowledge, re-send, amend, cancel, attachments."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, File, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from hub.access.auth import Principal
from hub.config import Role, Settings
from hub.edge import evidence as files
from hub.edge.deps import CallerDep, HubDep
from hub.edge.uploads import FORM_OVERHEAD_BYTES, upload_route
from hub.incidents.errors import Forbidden, NotFound
from hub.instructions.model import Priority, ReceiptState, Targets
from hub.instructions.service import attachments_table, instructions_table, recipients_table, row_instruction
from hub.instructions.templates import NAME_MAX_CHARS, Templates
from hub.schemas import NoNul, RowId

router = APIRouter(tags=["instructions"])

STAFF_ROLES = {Role.ADMIN, Role.DISPATCHER, Role.COORDINATOR}


class TargetsIn(BaseModel):
    """People, roles and nodes of the tree; the union of all of them."""

    model_config = ConfigDict(extra="forbid")
    people: list[str] = Field(default_factory=list, max_length=10_000)
    roles: list[str] = Field(default_factory=list, max_length=16)
    nodes: list[str] = Field(default_factory=list, max_length=1000)
    on_duty_only: bool = False

    def frozen(self) -> Targets:
        """The domain form that :meth:`hub.instructions.InstructionDesk.resolve` takes."""
        return Targets(tuple(self.people), tuple(self.roles), tuple(self.nodes), self.on_duty_only)


class InstructionIn(BaseModel):
    """``POST /api/instructions``."""

    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, NoNul] = Field(min_length=1, description="The instruction.")
    priority: Priority = Priority.ROUTINE
    targets: TargetsIn
    deadline_s: float | None = Field(None, gt=0, le=7 * 86400, description="Acknowledge within this time.")
    reply_options: list[Annotated[str, Field(min_length=1, max_length=100), NoNul]] = Field(default_factory=list)
    attachments: list[int] = Field(default_factory=list, max_length=4, description="Ids from POST /api/attachments.")


class TemplateIn(BaseModel):
    """``POST /api/instruction-templates``: an instruction with its targets, under a name."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, NoNul] = Field(min_length=1, max_length=NAME_MAX_CHARS)
    text: Annotated[str, NoNul] = Field(min_length=1)
    priority: Priority = Priority.ROUTINE
    targets: TargetsIn
    deadline_s: float | None = Field(None, gt=0, le=7 * 86400)
    reply_options: list[Annotated[str, Field(min_length=1, max_length=100), NoNul]] = Field(default_factory=list)


class AckIn(BaseModel):
    """``POST /api/instructions/{id}/ack``: confirm, or reply with an option or text."""

    model_config = ConfigDict(extra="forbid")
    reply: Annotated[str | None, NoNul] = Field(None, max_length=4000)


class AmendIn(BaseModel):
    """``POST /api/instructions/{id}/amend``."""

    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, NoNul] = Field(min_length=1)


def _is_staff(who: Principal) -> bool:
    return bool(who.roles & STAFF_ROLES)


def _check_text(hub: Any, text: str) -> None:
    limit = hub.settings.instructions.text_max_chars
    if len(text) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"text is over {limit} characters")


@router.post("/api/instructions", status_code=status.HTTP_201_CREATED)
async def send_instruction(body: InstructionIn, hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """Resolve the targets, freeze the recipient list and send."""
    _check_text(hub, body.text)
    if not body.text.strip():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "text is empty")
    if len(body.reply_options) > hub.settings.instructions.max_reply_options:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "too many reply options")
    inst, ev, unreachable = await hub.instructions.send(
        text=body.text,
        priority=body.priority,
        targets=body.targets.frozen(),
        who=who,
        deadline_s=body.deadline_s,
        reply_options=body.reply_options,
        attachments=body.attachments,
    )
    return {"instruction": inst.as_dict(), "event": ev.id, "unreachable": unreachable}


@router.post("/api/instructions/preview")
async def preview(body: TargetsIn, hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """Whom these targets reach if sent now (``count``, a ``sample`` of names, ``unreachable``):
    resolved by the same code that freezes the recipients when an instruction is sent."""
    return hub.instructions.preview(body.frozen())


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@router.get("/api/instructions")
async def list_instructions(
    hub: HubDep,
    who: CallerDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    q: Annotated[str | None, Query(max_length=200, description="Only those whose text holds this.")] = None,
) -> list[dict[str, Any]]:
    """The most recent instructions, newest first, each with its receipts counted per state."""
    t, r = instructions_table, recipients_table
    query = sa.select(t).order_by(t.c.id.desc()).limit(limit)
    if q and q.strip():
        query = query.where(t.c.text.ilike(_like(q.strip()), escape="\\"))

    def _read(conn: Connection) -> tuple[list[Any], list[Any]]:
        rows = list(conn.execute(query).all())
        ids = [row.id for row in rows]
        counts = conn.execute(
            sa.select(r.c.instruction_id, r.c.state, sa.func.count())
            .where(r.c.instruction_id.in_(ids))
            .group_by(r.c.instruction_id, r.c.state)
        ).all()
        return rows, list(counts)

    rows, counts = await hub.log.query(_read)
    per: dict[int, dict[str, int]] = {row.id: {s.value: 0 for s in ReceiptState} for row in rows}
    for iid, state, n in counts:
        per[iid][state] = n
    return [{**row_instruction(row).as_dict(), "per_state": per[row.id]} for row in rows]


@router.get("/api/instructions/{instruction_id}")
async def get_instruction(instruction_id: RowId, hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """The instruction with every receipt, counts per state and per node, and who has not confirmed."""
    desk = hub.instructions
    inst = await desk.get(instruction_id)
    receipts = await desk.receipts(instruction_id)
    if not _is_staff(who):
        mine = [r for r in receipts if r["person"] == who.person]
        if not mine:
            raise NotFound(f"no instruction {instruction_id}")
        return {"instruction": inst.as_dict(), "receipts": mine}
    unacked = [r["person"] for r in receipts if r["state"] not in ("acknowledged", "replied")]
    return {"instruction": inst.as_dict(), "receipts": receipts, **desk.progress(receipts), "unacknowledged": unacked}


CSV_FIELDS = ("person", "name", "grid", "state", "reply", "delivered_at", "read_at", "done_at")
"""Columns of ``receipts.csv``."""


def _cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: never a formula (a reply may start with ``=``)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _iso(at: float | None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)) if at is not None else ""


@router.get("/api/instructions/{instruction_id}/receipts.csv", response_class=Response)
async def receipts_csv(instruction_id: RowId, hub: HubDep, who: CallerDep) -> Response:
    """Every recipient's receipt as CSV (UTF-8 with a BOM, so spreadsheets read Chinese names)."""
    desk = hub.instructions
    await desk.get(instruction_id)
    rows = await desk.receipts(instruction_id)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(CSV_FIELDS)
    for rec in rows:
        person = hub.directory.people.get(rec["person"])
        w.writerow(
            [
                _cell(rec["person"]),
                _cell(person.name if person else ""),
                rec["grid"] or "",
                rec["state"],
                _cell(rec["reply"] or ""),
                _iso(rec["delivered_at"]),
                _iso(rec["read_at"]),
                _iso(rec["done_at"]),
            ]
        )
    name = f"instruction-{instruction_id}-receipts.csv"
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/api/instruction-templates")
async def list_templates(hub: HubDep, who: CallerDep) -> list[dict[str, Any]]:
    """The hub's saved instructions, by name."""
    return [tpl.as_dict() for tpl in await Templates(hub.log).all()]


@router.post("/api/instruction-templates", status_code=status.HTTP_201_CREATED)
async def save_template(body: TemplateIn, hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """Save an instruction and its targets under a name (replacing one of that name)."""
    _check_text(hub, body.text)
    if len(body.reply_options) > hub.settings.instructions.max_reply_options:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "too many reply options")
    targets = body.targets.frozen()
    hub.instructions.resolve(targets)  # an unknown person, role or node is refused now, not at sending
    tpl = await Templates(hub.log).save(
        name=body.name,
        text=body.text,
        priority=body.priority,
        targets=targets,
        reply_options=body.reply_options,
        deadline_s=body.deadline_s,
        who=who.username,
    )
    return tpl.as_dict()


@router.delete("/api/instruction-templates/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_template(template_id: RowId, hub: HubDep, who: CallerDep) -> None:
    """Remove a template."""
    await Templates(hub.log).delete(template_id, who.username)


async def _receipt(
    request: Request, hub: Any, who: Principal, instruction_id: int, step: ReceiptState, reply: str | None
) -> JSONResponse:
    """One receipt step, done once per ``Idempotency-Key`` (a phone's outbox may send it twice)."""

    async def work() -> tuple[int, dict[str, Any]]:
        state = await hub.instructions.receipt(instruction_id, who.person, step, reply)
        return 200, {"instruction": instruction_id, "person": who.person, "state": state.value}

    async def recover(subject: str, first: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {"instruction": instruction_id, "person": who.person, "state": first.get("state", step.value)}

    body = {"step": step.value, "reply": reply}
    return await hub.idempotency.run(request, who.username, body, work, recover)


@router.post("/api/instructions/{instruction_id}/ack")
async def acknowledge(
    instruction_id: RowId, request: Request, hub: HubDep, who: CallerDep, body: AckIn | None = None
) -> JSONResponse:
    """Confirm (or reply to) an instruction addressed to you; repeating it changes nothing.

    With an ``Idempotency-Key`` header, a repeat answers what the first answered (see README)."""
    reply = body.reply if body else None
    step = ReceiptState.REPLIED if reply else ReceiptState.ACKNOWLEDGED
    return await _receipt(request, hub, who, instruction_id, step, reply)


@router.post("/api/instructions/{instruction_id}/read")
async def mark_read(instruction_id: RowId, request: Request, hub: HubDep, who: CallerDep) -> JSONResponse:
    """You have read an instruction addressed to you (its receipt moves to ``read`` unless it is past it)."""
    return await _receipt(request, hub, who, instruction_id, ReceiptState.READ, None)


@router.post("/api/instructions/{instruction_id}/resend")
async def resend(instruction_id: RowId, hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """Notify everyone who has not confirmed yet, again."""
    ev = await hub.instructions.resend(instruction_id, who)
    return {"renotified": ev.data["persons"] if ev else []}


@router.post("/api/instructions/{instruction_id}/cancel")
async def cancel(instruction_id: RowId, hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """Cancel: recipients are told; no more receipts are taken."""
    ev = await hub.instructions.cancel(instruction_id, who)
    return {"event": ev.id}


@router.post("/api/instructions/{instruction_id}/amend")
async def amend(instruction_id: RowId, body: AmendIn, hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """Change the text; everyone who had the instruction gets the amendment."""
    _check_text(hub, body.text)
    ev = await hub.instructions.amend(instruction_id, body.text, who)
    return {"event": ev.id, "amendments": ev.data["amendments"]}


AUDIO_MAGIC = ((b"OggS", "audio/ogg", "ogg"), (b"\x1aE\xdf\xa3", "audio/webm", "webm"), (b"ID3", "audio/mpeg", "mp3"))


def _sniff(head: bytes) -> tuple[str, str, str] | None:
    image = files.sniff_image(head)
    if image is not None:
        return "image", image[0], image[1]
    for magic, ctype, ext in AUDIO_MAGIC:
        if head.startswith(magic):
            return "audio", ctype, ext
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio", "audio/wav", "wav"
    if head[4:8] == b"ftyp":
        return "audio", "audio/mp4", "m4a"
    return None


def attachment_limit(settings: Settings) -> tuple[int, str]:
    """The largest request ``POST /api/attachments`` accepts (see :mod:`hub.edge.uploads`)."""
    most = settings.instructions.attachment_max_bytes
    return most + FORM_OVERHEAD_BYTES, f"one attachment of {most}"


@upload_route(router, "/api/attachments", attachment_limit, status_code=status.HTTP_201_CREATED)
async def upload_attachment(hub: HubDep, who: CallerDep, file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    """Upload an image or a short voice note to attach to an instruction."""
    limit = hub.settings.instructions.attachment_max_bytes
    data = bytearray()
    while chunk := await file.read(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"attachment is larger than {limit} bytes")
    kind = _sniff(bytes(data[:16]))
    if kind is None:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "attach an image (JPEG/PNG/WebP) or audio")
    stored = await files.save_file(hub.settings.data_dir, Path("attachments"), bytes(data), kind[1], kind[2])
    aid = await hub.instructions.add_attachment(kind[0], stored.content_type, stored.size, stored.relpath, who)
    return {"id": aid, "kind": kind[0], "content_type": kind[1], "size": len(data)}


@router.get("/api/attachments/{attachment_id}", response_class=FileResponse)
async def get_attachment(attachment_id: RowId, hub: HubDep, who: CallerDep) -> FileResponse:
    """An attachment, for staff and for recipients of its instruction."""
    a = attachments_table

    def _read(conn: Connection) -> Any:
        row = (conn.execute(sa.select(a).where(a.c.id == attachment_id))).first()
        return row

    row = await hub.log.query(_read)
    if row is None:
        raise NotFound(f"no attachment {attachment_id}")
    if not _is_staff(who):
        if row.instruction_id is None or who.person not in await hub.instructions.members(row.instruction_id):
            raise Forbidden("this attachment is not addressed to you")
    return files.serve_file(Path(hub.settings.data_dir) / row.path, row.content_type, f"attachment-{attachment_id}")

"""HTTP bodies of the incident desk (kept apart from the domain in ``hub.incidents.model``)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from hub.incidents.model import Severity, State
from hub.schemas import ROW_ID_MAX, NoNul


class AssigneeIn(BaseModel):
    """A person or a grid (exactly one)."""

    model_config = ConfigDict(extra="forbid")
    person: Annotated[str | None, NoNul] = Field(None, max_length=64)
    grid: Annotated[str | None, NoNul] = Field(None, max_length=64)


class TransitionIn(BaseModel):
    """``POST /api/incidents/{id}/transitions``."""

    model_config = ConfigDict(extra="forbid")
    to: State = Field(description="The state to move to.")
    version: int = Field(ge=1, le=ROW_ID_MAX, description="The version you saw; a newer one on the server gives 409.")
    note: Annotated[str | None, NoNul] = Field(
        None, max_length=4000, description="Feedback (required to resolve) or a remark."
    )
    assignee: AssigneeIn | None = Field(None, description="Required when `to` is `assigned`.")
    merge_into: int | None = Field(None, ge=1, le=ROW_ID_MAX, description="Required when `to` is `merged`.")
    node: Annotated[str | None, NoNul] = Field(
        None,
        max_length=64,
        description="Place it at this node of the district tree (verifying or assigning a report that had none).",
    )


class IncidentIn(BaseModel):
    """``POST /api/incidents``: an incident opened by hand in the command center."""

    model_config = ConfigDict(extra="forbid")
    category: Annotated[str, NoNul] = Field(min_length=1, max_length=64)
    severity: Severity = Severity.P3
    title: Annotated[str, NoNul] = Field(min_length=1, max_length=200)
    description: Annotated[str, NoNul] = Field("", max_length=4000)
    node: Annotated[str | None, NoNul] = Field(None, max_length=64, description="Where: a node of the district tree.")
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)


class IncidentOut(BaseModel):
    """An incident, with what the caller may do next."""

    incident: dict[str, Any]
    allowed: list[str] = Field(description="Transitions the caller may make now.")
    evidence: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    deadlines: list[dict[str, Any]] = []

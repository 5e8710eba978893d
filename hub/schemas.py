"""HTTP request and response bodies (kept apart from the domain data)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

ROW_ID_MAX = 2**63 - 1
"""The largest id or count a table can hold (SQLite's INTEGER, PostgreSQL's bigint): a larger
number in a request is refused (422) rather than handed to the database driver, which fails."""
RowId = Annotated[int, Path(ge=1, le=ROW_ID_MAX)]
"""An id in a URL path."""
Cursor = Annotated[int, Query(ge=0, le=ROW_ID_MAX)]
"""An event id or an offset in a query string."""


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain the NUL character")
    return value


NoNul = AfterValidator(_no_nul)
"""For text that is stored in a table's column: PostgreSQL cannot hold the NUL character."""


class LoginRequest(BaseModel):
    """Credentials for ``POST /api/auth/login``."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class ViewerSwitch(BaseModel):
    """``POST /whep/{camera}/{session}/switch``: what a connected viewer session shows next."""

    model_config = ConfigDict(extra="forbid")
    camera: str | None = Field(
        min_length=1, max_length=128, description="A camera id, or null to park the session (it sends nothing)."
    )


class ViewerSwitched(BaseModel):
    """A viewer session after a switch."""

    camera: str | None
    location: str = Field(description="The session's URL from now on (PATCH, DELETE, switch).")


class TokenResponse(BaseModel):
    """A bearer token."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class MeResponse(BaseModel):
    """Who the caller is."""

    username: str
    roles: list[str]
    person: str
    grids: list[str]


class RevokedOut(BaseModel):
    """Whose sessions ended, and from when (sessions that began before it)."""

    user: str
    before: float


class EventOut(BaseModel):
    """One event of the log."""

    id: int
    ts: str
    type: str
    subject: str
    actor: str
    grid: str | None
    data: dict[str, Any]


class EventPage(BaseModel):
    """A page of the log, and where to continue."""

    events: list[EventOut]
    last_id: int = Field(description="Pass as `since` to continue after this page.")
    head_id: int = Field(description="The newest id in the log now.")


class JournalRequest(BaseModel):
    """A duty-log entry written by the command center."""

    model_config = ConfigDict(extra="forbid")
    subject: Annotated[str, NoNul] = Field("duty", min_length=1, max_length=128, description="What the entry is about.")
    text: Annotated[str, NoNul] = Field(min_length=1, max_length=4000, description="The entry.")
    grid: str | None = Field(None, max_length=64, description="Grid it concerns, if any.")


class PositionReport(BaseModel):
    """``POST /api/me/position``: the phone's location."""

    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90, description="Latitude, degrees north.")
    lon: float = Field(ge=-180, le=180, description="Longitude, degrees east.")
    accuracy_m: float | None = Field(None, ge=0, le=100_000, description="The phone's estimate of its error.")

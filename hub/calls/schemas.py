"""HTTP request bodies of the calls API (kept apart from the domain in :mod:`hub.calls`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from streams.config import ID_PATTERN


class StartCall(BaseModel):
    """Ring someone."""

    model_config = ConfigDict(extra="forbid")
    to: str = Field(pattern=ID_PATTERN, description="Username to call.")
    camera: str | None = Field(None, pattern=ID_PATTERN, description="A camera to show in place of your video.")


class StartBriefing(BaseModel):
    """Address everyone on duty under a node of the district tree."""

    model_config = ConfigDict(extra="forbid")
    node: str = Field(pattern=ID_PATTERN, description="District tree node (street, community, grid…).")
    camera: str | None = Field(None, pattern=ID_PATTERN, description="Brief with a camera instead of your video.")


class PutCamera(BaseModel):
    """Put a camera into a call (or take it out with null)."""

    model_config = ConfigDict(extra="forbid")
    camera: str | None = Field(description="Camera id, or null for your own video again.")


class FloorRequest(BaseModel):
    """A floor operation in a briefing."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["request", "release", "grant", "revoke"] = Field(description="What to do.")
    to: str | None = Field(None, pattern=ID_PATTERN, description="For grant: the listener.")
    priority: int = Field(0, ge=0, le=2, description="For request: 0 normal, 1 urgent, 2 emergency (preempts lower).")

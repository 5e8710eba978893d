"""A camera's source settings: what the ingest needs to open, watch, buffer and sample one camera.

The hub's configuration (:mod:`hub.config`) builds its camera entry on :class:`SourceConfig`; the
analysis (:mod:`alerts.config`) adds zones and detector settings on top. This module needs nothing
above ``streams/``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Ident = Annotated[str, Field(pattern=ID_PATTERN, description="A short identifier.")]

CLIP_MAX_S = 300.0
"""Longest alert clip a camera's packet buffer hands out (pre-roll plus post-roll), in seconds."""


class Strict(BaseModel):
    """Base for every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FrameSamplingConfig(Strict):
    """Which frames of a camera are decoded for analysis: how often and at what size.

    The ingest decodes only these (grayscale, scaled down); :class:`alerts.config.AnalysisConfig`
    extends this section with the detectors' settings.
    """

    enabled: bool = Field(True, description="Run frame analysis on this camera.")
    fps: float = Field(5.0, gt=0, le=30, description="Frames analysed per second.")
    width: int = Field(160, ge=32, le=1280, description="Width of the grayscale analysis frame, in pixels.")
    height: int = Field(90, ge=18, le=720, description="Height of the grayscale analysis frame, in pixels.")


class SourceConfig(Strict):
    """Where a camera's video comes from and how its ingest is kept alive."""

    id: Ident = Field(description="Unique camera id.")
    name: str = Field("", max_length=200, description="Display name (default: the id).")
    url: str = Field(
        min_length=1,
        description="rtsp://, rtsps://, http(s):// (MJPEG or JPEG), file:// or synthetic://. ${ENV} is expanded.",
    )
    analysis_url: str | None = Field(None, description="Optional low-resolution sub-stream for analysis.")
    grid: str | None = Field(None, description="Grid id where the camera stands.")
    enabled: bool = Field(True, description="A disabled camera is not ingested.")
    stall_timeout_s: float = Field(10.0, ge=0.5, le=600, description="No packet for this long means stalled.")
    connect_timeout_s: float = Field(5.0, ge=0.5, le=120, description="Timeout to open the source.")
    reconnect_max_s: float = Field(30.0, ge=0.5, le=3600, description="Cap of the reconnect backoff.")
    preroll_s: float = Field(5.0, ge=0, le=120, description="Seconds of packets kept for clips before an alert.")
    postroll_s: float = Field(
        5.0, ge=0, le=300, description="Seconds of video in an alert's clip after the alert starts."
    )
    buffer_max_bytes: int = Field(
        32 * 1024 * 1024, ge=64 * 1024, le=1024**3, description="Most bytes of packets kept per camera."
    )
    analysis: FrameSamplingConfig = Field(default_factory=FrameSamplingConfig, description="Analysis settings.")

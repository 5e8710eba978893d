"""The analysis settings of a camera: zones, detectors, tamper checks, cool-downs.

Built on the ingest's :class:`streams.config.SourceConfig`; the hub's camera entry
(:class:`hub.config.CameraConfig`) adds where the camera stands. Nothing here imports ``hub/``, so
the analysis runs (``python -m alerts.offline``) and is tested on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from alerts.geometry import MIN_ZONE_AREA, ZoneError, line_ends, polygon_area, polygon_mask
from streams.config import FrameSamplingConfig, Ident, SourceConfig, Strict

MIN_LINE_LENGTH = 1e-3
"""Shortest line zone, in frame coordinates (0..1); shorter is a point."""
MIN_AREA_PX = 4.0
"""Smallest moving region in analysis pixels, whatever ``min_area_fraction`` gives at a small size."""


class ZoneConfig(Strict):
    """A region of a camera's picture with a rule attached."""

    id: Ident = Field(description="Zone id, unique within its camera.")
    kind: Literal["intrusion", "loitering", "crowd", "line", "ignore"] = Field(
        description="What the zone watches for; `ignore` masks motion."
    )
    polygon: list[tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]]] = Field(
        min_length=2, description="Points (x, y) in 0..1 of the frame; a line zone takes two."
    )
    min_frames: int = Field(3, ge=1, le=1000, description="Frames of presence before an intrusion alert.")
    dwell_s: float = Field(30.0, gt=0, le=86_400, description="Presence before a loitering alert.")
    occupied_fraction: float = Field(0.3, gt=0, le=1, description="Share of the zone occupied to count as a crowd.")
    duration_s: float = Field(5.0, gt=0, le=3600, description="How long a crowd must last.")
    person_check: bool = Field(False, description="Confirm with the HOG people detector before alerting.")
    direction: Literal["any", "left_to_right", "right_to_left", "up", "down"] = Field(
        "any", description="For line zones: which crossing direction alerts."
    )

    @model_validator(mode="after")
    def _polygon_shape(self) -> ZoneConfig:
        if self.kind != "line" and len(self.polygon) < 3:
            raise ValueError("a polygon needs at least 3 points")
        if self.kind == "line" and len(self.polygon) != 2:
            raise ValueError("a line zone takes exactly 2 points")
        if self.kind == "line":
            (x0, y0), (x1, y1) = self.polygon
            if ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 < MIN_LINE_LENGTH:
                raise ValueError(f"zone {self.id}: the two points of a line zone coincide; it has no length")
        elif polygon_area(self.polygon) < MIN_ZONE_AREA:
            raise ValueError(
                f"zone {self.id}: the polygon has (almost) no area: its points lie on one line, or its sides "
                f"cross so its halves cancel (area {polygon_area(self.polygon):.2g} of the frame, at least "
                f"{MIN_ZONE_AREA:g})"
            )
        return self


AlertKindName = Literal[
    "motion",
    "intrusion",
    "loitering",
    "crowd",
    "line_crossing",
    "tamper.covered",
    "tamper.defocused",
    "tamper.moved",
    "tamper.frozen",
    "tamper.signal_lost",
]
"""The kinds of alert the analysis raises (``alerts.events.AlertKind``), as config keys."""

MASK_MAX_SIDE_PX = 8192
"""Largest ignore-mask image side accepted; more is not a camera picture."""
MASK_MAX_BYTES = 20 * 1024 * 1024
"""Largest ignore-mask file accepted, checked before the image is decoded."""
FLAT_STD = 3.0
"""A picture whose spread (grey levels) is below this has no contrast: motion is not judged on it.

Tamper's ``covered_std`` may not be lower, or a picture could be too flat for motion and still not
count as covered: a camera that reports nothing at all."""
SPLIT_COOLDOWN_S = 1.5
"""Default cool-down of the presence kinds (motion, intrusion, line crossing): the split gap.

Repeats of the same camera, zone and kind fold into one open incident anyway, so a short cool-down
costs the desk nothing and keeps two people entering a few seconds apart two alerts."""
DEFAULT_COOLDOWN_S = 30.0
"""Default cool-down of the other kinds (loitering, crowd, tamper): they flap more and mean more."""
DEFAULT_COOLDOWNS_S: dict[str, float] = {
    "motion": SPLIT_COOLDOWN_S,
    "intrusion": SPLIT_COOLDOWN_S,
    "line_crossing": SPLIT_COOLDOWN_S,
}
"""Per-kind default cool-downs; kinds not listed use :data:`DEFAULT_COOLDOWN_S`."""


class TamperConfig(Strict):
    """The camera tamper checks of one camera and how sensitive they are."""

    enabled: bool = Field(True, description="Run the tamper checks (covered, defocused, moved, frozen).")
    covered_std: float = Field(
        FLAT_STD,
        ge=FLAT_STD,
        le=60,
        description=(
            f"Picture spread (grey levels) below which the lens counts as covered; at least {FLAT_STD:g}, "
            "the spread below which motion is not judged."
        ),
    )
    covered_hold_s: float = Field(1.0, ge=0, le=600, description="How long a covered picture lasts before it alerts.")
    defocus_ratio: float = Field(
        0.4, gt=0, lt=1, description="Sharpness below this share of the camera's own baseline counts as defocused."
    )
    defocus_hold_s: float = Field(1.5, ge=0, le=600, description="How long defocus lasts before it alerts.")
    moved_shift: float = Field(
        0.06, gt=0, le=0.5, description="Scene shift, as a share of the picture width, that counts as moved."
    )
    moved_hold_s: float = Field(2.0, ge=0, le=600, description="How long a moved view lasts before it alerts.")
    frozen_hold_s: float = Field(
        3.0, gt=0, le=3600, description="How long an exactly repeated picture lasts before it counts as frozen."
    )


def _check_mask_file(path: Path) -> None:
    """Refuse an ignore-mask file that is missing, too large or not a decodable image (ValueError
    naming the file and the reason)."""
    import cv2  # only when a mask is configured: the config module stays light otherwise
    import numpy as np

    if not path.exists():
        raise ValueError(f"ignore_mask {path}: no such file")
    if not path.is_file():
        raise ValueError(f"ignore_mask {path}: not a file")
    try:
        size = path.stat().st_size
        # The file size first: cv2 cannot read an image's header without decoding all of it.
        if size > MASK_MAX_BYTES:
            raise ValueError(
                f"ignore_mask {path}: {size / 1e6:.0f} MB is larger than any mask drawn on a camera picture "
                f"(at most {MASK_MAX_BYTES // (1024 * 1024)} MB)"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"ignore_mask {path}: cannot read ({exc.strerror or exc})") from None
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE) if data else None
    if img is None:
        raise ValueError(f"ignore_mask {path}: not a PNG or JPEG image that can be decoded")
    h, w = img.shape[:2]
    if w > MASK_MAX_SIDE_PX or h > MASK_MAX_SIDE_PX:
        raise ValueError(f"ignore_mask {path}: {w}x{h} is larger than any camera picture")


class AnalysisConfig(FrameSamplingConfig):
    """How a camera is analysed: the sampled frames (rate and size) and the detectors' settings."""

    motion_threshold: int = Field(25, ge=1, le=255, description="Grey-level difference that counts as change.")
    min_area_fraction: float = Field(0.002, gt=0, le=1, description="Smallest moving blob, as a share of the frame.")
    cooldown_s: float | None = Field(
        None,
        ge=0,
        le=3600,
        description=(
            "Quiet time (seconds) before the same alert may start again, for every kind. Unset: each kind's "
            f"default ({SPLIT_COOLDOWN_S:g} s for motion, intrusion and line crossing, whose repeats fold into "
            f"one open incident anyway; {DEFAULT_COOLDOWN_S:g} s for loitering, crowd and tamper)."
        ),
    )
    cooldowns: dict[AlertKindName, Annotated[float, Field(ge=0, le=86_400)]] = Field(
        default_factory=dict,
        description="Cool-downs per alert kind, overriding `cooldown_s` (e.g. {intrusion: 10, tamper.frozen: 600}).",
    )
    ignore_mask: Path | None = Field(
        None,
        description=(
            "A black-and-white PNG or JPEG drawn over a snapshot of the camera: white (grey > 127) areas are "
            "ignored by motion, black ones watched. Any size and shape: it is stretched to the analysis frame "
            "as the camera picture is. A relative path is taken from the config file's folder. Combined with "
            "`ignore` zones."
        ),
    )
    tamper: TamperConfig = Field(default_factory=TamperConfig, description="Camera tamper checks.")

    @field_validator("ignore_mask")
    @classmethod
    def _mask_beside_config(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # A relative mask path means "next to the config file", wherever the hub was started; checked
        # here so an error points at the `ignore_mask:` line.
        if value is None:
            return None
        base = (info.context or {}).get("config_dir")
        if not value.is_absolute() and base is not None:
            value = Path(base) / value
        value = value.resolve()
        _check_mask_file(value)
        return value

    @property
    def min_area_px(self) -> float:
        """The smallest moving region in analysis pixels (``min_area_fraction`` of the frame)."""
        return max(MIN_AREA_PX, self.min_area_fraction * self.width * self.height)

    def cooldown_for(self, kind: str) -> float:
        """The cool-down of one alert kind: ``cooldowns``, else ``cooldown_s``, else the kind's default."""
        if kind in self.cooldowns:
            return float(self.cooldowns[kind])
        if self.cooldown_s is not None:
            return self.cooldown_s
        return DEFAULT_COOLDOWNS_S.get(kind, DEFAULT_COOLDOWN_S)


class AnalysedCameraConfig(SourceConfig):
    """A camera with what its analysis needs: the zones drawn on its picture and the detectors' settings."""

    zones: list[ZoneConfig] = Field(default_factory=list, description="Zones and their rules.")
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig, description="Analysis settings.")

    @model_validator(mode="after")
    def _zones_fit_the_analysis_frame(self, info: ValidationInfo) -> AnalysedCameraConfig:
        # The YAML loader reports these through cross_check, each on its own zone's line.
        if info.context and info.context.get("defer_cross_checks"):
            return self
        problems = self.zone_problems()
        if problems:
            raise ValueError("; ".join(f"zones[{j}]: {msg}" for j, msg in problems))
        return self

    def zone_problems(self) -> list[tuple[int, str]]:
        """Zones that cannot work on this camera's analysis frame: (index in ``zones``, why).

        A zone is drawn in 0..1 coordinates, but analysed in pixels of the small analysis frame: a
        polygon that covers fewer pixels there than the smallest moving region could never be
        occupied, and a line whose ends fall on one pixel has no side to cross to.
        """
        if not self.zones:
            return []
        a = self.analysis
        out: list[tuple[int, str]] = []
        for j, zone in enumerate(self.zones):
            try:
                if zone.kind == "line":
                    line_ends(zone.id, zone.polygon, a.width, a.height)
                    continue
                covered = int((polygon_mask(zone.id, zone.polygon, a.width, a.height) > 0).sum())
            except ZoneError as exc:
                out.append((j, str(exc)))
                continue
            if zone.kind != "ignore" and covered < a.min_area_px:
                out.append(
                    (
                        j,
                        f"zone {zone.id}: covers {covered} pixels of the {a.width}x{a.height} analysis frame, fewer "
                        f"than the smallest moving region ({a.min_area_px:g} px, analysis.min_area_fraction): "
                        "it could never alert; draw it larger or lower analysis.min_area_fraction",
                    )
                )
        return out

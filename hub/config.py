"""The configuration tree: one validated pydantic model, loaded from YAML.

YAML loading (with line numbers) lives in :mod:`hub.configfile`; this module only
describes and validates, so tests can build settings from plain dicts.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import argon2
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from streams.gb28181.config import Gb28181Config

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Ident = Annotated[str, Field(pattern=ID_PATTERN, description="A short identifier.")]

LEVELS = ("district", "street", "community", "grid", "property")
"""The five levels of the district tree, top to bottom."""


class Role(StrEnum):
    """What a user may do; see :mod:`hub.policy` for the route table."""

    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    COORDINATOR = "coordinator"
    WORKER = "worker"
    VIEWER = "viewer"


class Strict(BaseModel):
    """Base for every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(Strict):
    """A certificate and its key: the hub serves HTTPS (phones give cameras and microphones only to secure pages)."""

    cert: Path = Field(description="PEM certificate file (with its chain), relative to the config file.")
    key: Path = Field(description="PEM private key file of that certificate, relative to the config file.")

    @model_validator(mode="after")
    def _relative_to_config(self, info: ValidationInfo) -> TlsConfig:
        base = (info.context or {}).get("config_dir")
        if base is None:
            return self
        resolved = {f: Path(base) / getattr(self, f) for f in ("cert", "key") if not getattr(self, f).is_absolute()}
        return self.model_copy(update=resolved) if resolved else self


class ServerConfig(Strict):
    """Where the hub listens and how it shuts down."""

    host: str = Field("127.0.0.1", description="Address to bind. Keep loopback unless behind a proxy.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port; 0 picks a free one.")
    shutdown_timeout_s: float = Field(
        5.0, gt=0, le=120, description="How long shutdown waits for services to drain before cancelling."
    )
    ws_queue_events: int = Field(
        512, ge=8, le=100_000, description="Per-client send queue of a WebSocket feed, in events."
    )
    ws_flush_ms: float = Field(
        20.0,
        ge=0,
        le=1000,
        description="Least time between two feed messages to one client; events in between travel together.",
    )
    ice_addresses: list[str] = Field(
        default_factory=list,
        description="Host addresses announced in ICE; SKYHUB_ICE_ADDRESSES overrides. Empty: all but loopback.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description=(
            "Addresses of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto headers are "
            "believed (e.g. 127.0.0.1 behind a local nginx). Empty (default): nobody's are, and a "
            "client's address is the connection's own, so per-address limits cannot be dodged."
        ),
    )
    public_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s?#]+$",
        description=(
            "Base URL other hub nodes and browsers use to reach this node (e.g. https://hub-a.example); "
            "a node that does not ingest a camera redirects its live video here. Default: http://host:port."
        ),
    )
    metrics_token_env: str | None = Field(
        None,
        pattern=r"^[A-Z_][A-Z0-9_]*$",
        description=(
            "Environment variable holding the bearer token a metrics scraper (Prometheus) sends to "
            "/metrics; staff logins may read it too. Unset: staff logins only."
        ),
    )
    tls: TlsConfig | None = Field(
        None,
        description=(
            "Serve HTTPS with this certificate and key (`skyhub run --https` makes a local CA and a "
            "certificate instead). Unset: plain HTTP, fine for localhost."
        ),
    )
    docs: bool = Field(
        False,
        description=(
            "Serve the API's interactive docs at /docs and /redoc (their pages load scripts from a CDN). "
            "The OpenAPI schema is always at /openapi.json."
        ),
    )

    def base_url(self) -> str:
        """``public_url`` without a trailing slash, or one derived from ``host`` and ``port``."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host
        if host in ("", "0.0.0.0", "::"):  # bound to every interface: the machine's name reaches it
            host = socket.getfqdn()
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self.port}"


class StorageConfig(Strict):
    """Where the event log and state tables live."""

    url: str | None = Field(
        None,
        description=(
            "SQLAlchemy URL (sqlite:///… or postgresql://…; the log runs its SQL in threads). "
            "Default: SQLite in the data directory. SKYHUB_STORAGE_URL overrides."
        ),
    )
    batch_max_events: int = Field(
        256, ge=1, le=10_000, description="Most appends committed together in one durable transaction."
    )
    redis_url: str | None = Field(
        None,
        description=(
            "Redis that tells hub nodes sharing one PostgreSQL store when the log has grown (prompt "
            "cross-node delivery). None: other nodes' events arrive by polling. SKYHUB_REDIS_URL overrides."
        ),
    )
    redis_prefix: str = Field(
        "skyhub",
        pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
        description="Prefix of this deployment's Redis keys and channels (several deployments may share a Redis).",
    )
    follow_poll_s: float = Field(
        1.0,
        ge=0.05,
        le=60,
        description=(
            "With a shared PostgreSQL store: how often a node looks for events appended by other nodes "
            "(with Redis this is only the fallback)."
        ),
    )
    camera_lease_ttl_s: float = Field(
        10.0,
        ge=1,
        le=300,
        description=(
            "With Redis: how long a node's claim on a camera lasts unless renewed. A node that dies "
            "loses its cameras to the others after about this long plus one renewal round."
        ),
    )
    camera_lease_renew_s: float = Field(
        3.0,
        ge=0.1,
        le=100,
        description=(
            "With Redis: how often a node renews its camera leases, takes free cameras up to its fair "
            "share and hands one back while it holds more than its share. Less than a third of the TTL."
        ),
    )

    @model_validator(mode="after")
    def _renew_within_ttl(self) -> StorageConfig:
        if self.camera_lease_renew_s * 3 > self.camera_lease_ttl_s:
            raise ValueError("camera_lease_renew_s must be at most a third of camera_lease_ttl_s")
        return self


RESERVED_USERNAMES = frozenset({"camera", "public", "system"})
"""Actors the hub writes itself (camera alerts, residents' reports, the hub): a login with one of
these names would be taken for the author of everything they opened."""


class UserConfig(Strict):
    """A login."""

    username: Ident = Field(description="Login name.")
    roles: list[Role] = Field(min_length=1, description="Roles of this user.")
    password_hash: str | None = Field(
        None, description="argon2 hash of the password (make one with `skyhub hash-password`)."
    )
    person: str | None = Field(
        None, description="The directory person this login belongs to (default: a person with the same id)."
    )

    @field_validator("username")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_USERNAMES:
            raise ValueError(f"{value!r} is reserved: the hub writes it as the author of what it opens itself")
        return value

    @field_validator("password_hash")
    @classmethod
    def _argon2_hash(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                argon2.extract_parameters(value)
            except argon2.exceptions.InvalidHashError:
                raise ValueError("not an argon2 hash; make one with `skyhub hash-password`") from None
        return value


class AuthConfig(Strict):
    """Token settings. The signing secret comes from SKYHUB_SECRET, never from this file."""

    token_ttl_s: int = Field(8 * 3600, ge=60, le=30 * 86400, description="Lifetime of a login token.")
    session_max_s: int = Field(
        24 * 3600,
        ge=60,
        le=90 * 86400,
        description="A login session ends this long after its login, however often its token is refreshed.",
    )
    lockout_first_s: float = Field(
        1.0,
        ge=0.1,
        le=3600,
        description=(
            "First lockout after the free failed logins of a name (5) or an address (20); "
            "it doubles with each further failure."
        ),
    )
    secret: SecretStr | None = Field(
        None, exclude=True, description="Set from SKYHUB_SECRET; a value in the file is refused."
    )


Longitude = Annotated[float, Field(ge=-180, le=180)]
Latitude = Annotated[float, Field(ge=-90, le=90)]


class GeoPoint(Strict):
    """A place on the map (WGS 84 degrees)."""

    lat: Latitude = Field(description="Latitude, degrees north.")
    lon: Longitude = Field(description="Longitude, degrees east.")


MAX_AREA_POINTS = 2000
"""Points in one node's outline: a district drawn by hand, not a survey."""


class NodeConfig(Strict):
    """One node of the district tree; its level is its depth (district at the top)."""

    id: Ident = Field(description="Unique id across the whole tree.")
    name: str = Field(min_length=1, max_length=200, description="Display name.")
    area: list[tuple[Longitude, Latitude]] | None = Field(
        None,
        min_length=3,
        max_length=MAX_AREA_POINTS,
        description="Outline on the map as [longitude, latitude] points (GeoJSON order), drawn on the desk's map.",
    )
    leader: str | None = Field(None, description="Person id of this node's leader.")
    neighbours: list[str] = Field(
        default_factory=list, description="Grid ids next to this grid (used to suggest help)."
    )
    children: list[NodeConfig] = Field(default_factory=list, description="Nodes one level down.")


class PersonConfig(Strict):
    """Someone in the directory: a worker, a leader, a dispatcher."""

    id: Ident = Field(description="Unique person id.")
    name: str = Field(min_length=1, max_length=200, description="Display name.")
    roles: list[Role] = Field(default_factory=list, description="Roles this person holds.")
    grids: list[str] = Field(default_factory=list, description="Grid ids this person serves.")
    on_duty: bool = Field(True, description="Whether the person is on duty now.")


class MapConfig(Strict):
    """The desk's district map. Without a tile server it draws the tree's outlines on a plain ground."""

    tile_url: str | None = Field(
        None,
        pattern=r"^(https?:)?//[^\s]+\{z\}[^\s]*$",
        description="A district's own map tiles, e.g. https://tiles.example/{z}/{x}/{y}.png; none by default.",
    )
    attribution: str = Field("", max_length=300, description="Credit shown for the tiles.")
    max_zoom: int = Field(19, ge=1, le=22, description="Deepest zoom the tiles (or the outlines) allow.")


class DirectoryConfig(Strict):
    """The district tree and its people."""

    root: NodeConfig | None = Field(None, description="The district node, with streets below it.")
    people: list[PersonConfig] = Field(default_factory=list, description="Everyone the hub knows.")


MIN_ZONE_AREA = 1e-4
"""Smallest zone polygon area, as a share of the frame (1 % by 1 %); less is a line or a point."""
MIN_LINE_LENGTH = 1e-3
"""Shortest line zone, in frame coordinates (0..1); shorter is a point."""
MIN_AREA_PX = 4.0
"""Smallest moving region in analysis pixels, whatever ``min_area_fraction`` gives at a small size."""


def polygon_area(points: list[tuple[float, float]]) -> float:
    """Area enclosed by a polygon (shoelace formula), in the points' units squared.

    Sides that cross cancel: a bow tie drawn by putting two corners in the wrong order has none.
    """
    twice = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True):
        twice += x0 * y1 - x1 * y0
    return abs(twice) / 2.0


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
CLIP_MAX_S = 300.0
"""Longest alert clip the camera's packet buffer hands out (``streams.camera.MAX_CLIP_S``)."""


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


class AnalysisConfig(Strict):
    """How a camera is analysed."""

    enabled: bool = Field(True, description="Run frame analysis on this camera.")
    fps: float = Field(5.0, gt=0, le=30, description="Frames analysed per second.")
    width: int = Field(160, ge=32, le=1280, description="Width of the grayscale analysis frame, in pixels.")
    height: int = Field(90, ge=18, le=720, description="Height of the grayscale analysis frame, in pixels.")
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


class CameraConfig(Strict):
    """One camera of the sky net."""

    id: Ident = Field(description="Unique camera id.")
    name: str = Field("", max_length=200, description="Display name (default: the id).")
    url: str = Field(
        min_length=1,
        description="rtsp://, rtsps://, http(s):// (MJPEG or JPEG), file:// or synthetic://. ${ENV} is expanded.",
    )
    analysis_url: str | None = Field(None, description="Optional low-resolution sub-stream for analysis.")
    grid: str | None = Field(None, description="Grid id where the camera stands.")
    property: str | None = Field(None, description="Optional property id under that grid.")
    location: GeoPoint | None = Field(None, description="Where the camera stands, for the desk's map.")
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
    zones: list[ZoneConfig] = Field(default_factory=list, description="Zones and their rules.")
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig, description="Analysis settings.")

    @model_validator(mode="after")
    def _zones_fit_the_analysis_frame(self, info: ValidationInfo) -> CameraConfig:
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
        # Only when zones are configured: the analysis geometry pulls in OpenCV.
        from alerts.geometry import ZoneError, line_ends, polygon_mask

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


class DeadlinesConfig(Strict):
    """How long each step of handling may take at one severity."""

    def seconds(self, kind: str) -> float:
        """The time allowed for a deadline ``kind`` (``assign``, ``ack``, ``arrive``, ``resolve``)."""
        if kind == "assign":
            return self.assign_s if self.assign_s is not None else self.ack_s
        return float({"ack": self.ack_s, "arrive": self.arrive_s, "resolve": self.resolve_s}[kind])

    assign_s: float | None = Field(
        None,
        gt=0,
        le=30 * 86400,
        description=(
            "From the moment an incident has a place in the tree to its assignment (default: ack_s): "
            "one nobody dispatches climbs the tree like any other missed deadline."
        ),
    )
    ack_s: float = Field(gt=0, le=30 * 86400, description="From assignment to acknowledgement.")
    arrive_s: float = Field(gt=0, le=30 * 86400, description="From acknowledgement to arriving on site.")
    resolve_s: float = Field(gt=0, le=90 * 86400, description="From assignment to resolution.")


SeverityKey = Literal["P1", "P2", "P3", "P4"]


def _default_deadlines() -> dict[SeverityKey, DeadlinesConfig]:
    return {
        "P1": DeadlinesConfig(assign_s=300, ack_s=120, arrive_s=600, resolve_s=3600),
        "P2": DeadlinesConfig(assign_s=900, ack_s=300, arrive_s=1800, resolve_s=4 * 3600),
        "P3": DeadlinesConfig(assign_s=4 * 3600, ack_s=1800, arrive_s=4 * 3600, resolve_s=24 * 3600),
        "P4": DeadlinesConfig(assign_s=24 * 3600, ack_s=4 * 3600, arrive_s=24 * 3600, resolve_s=72 * 3600),
    }


class IncidentsConfig(Strict):
    """The incident desk: deadlines, reopening, and the public report endpoint."""

    deadlines: dict[SeverityKey, DeadlinesConfig] = Field(
        default_factory=_default_deadlines, description="Deadlines per severity (P1 most urgent)."
    )
    reopen_window_s: float = Field(
        7 * 86400, ge=0, le=365 * 86400, description="How long after closing a reopen is allowed."
    )
    photo_max_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024, description="Largest photo accepted, in bytes."
    )
    public_text_max_chars: int = Field(2000, ge=10, le=20_000, description="Longest resident report text.")
    public_rate_per_min: int = Field(5, ge=1, le=10_000, description="Resident reports per minute from one address.")
    public_photo_bytes_per_day: int = Field(
        512 * 1024 * 1024,
        ge=1024,
        description=(
            "Bytes of photos all residents together may send per day (refilled continuously; across "
            "every node with Redis). Past it, reports with a photo get 429 with Retry-After."
        ),
    )
    public_min_free_bytes: int = Field(
        2 * 1024**3,
        ge=0,
        description=(
            "Free space the data directory keeps for alert evidence: a resident's photo that would "
            "leave less is refused (507)."
        ),
    )

    @model_validator(mode="after")
    def _budget_takes_a_photo(self) -> IncidentsConfig:
        if self.public_photo_bytes_per_day < self.photo_max_bytes:
            raise ValueError("public_photo_bytes_per_day must hold at least one photo of photo_max_bytes")
        return self

    @model_validator(mode="after")
    def _all_severities(self) -> IncidentsConfig:
        missing = {"P1", "P2", "P3", "P4"} - set(self.deadlines)
        if missing:
            raise ValueError(f"deadlines missing for {', '.join(sorted(missing))}")
        return self


class InstructionsConfig(Strict):
    """Broadcast instructions: limits and follow-up."""

    text_max_chars: int = Field(2000, ge=10, le=20_000, description="Longest instruction or reply text.")
    attachment_max_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024, description="Largest attachment (image or voice note)."
    )
    max_reply_options: int = Field(8, ge=0, le=32, description="Most canned reply options per instruction.")
    escalate_after_s: float = Field(
        300.0, gt=0, le=7 * 86400, description="After the acknowledge deadline, when grid leaders are told."
    )
    progress_interval_ms: float = Field(
        500.0, ge=10, le=60_000, description="Least time between two progress events of one instruction."
    )


class IceServerConfig(Strict):
    """A STUN or TURN server offered to peers (none by default: nothing public is contacted)."""

    urls: list[str] = Field(
        min_length=1, description="stun:host:port, turn:host:port?transport=udp|tcp or turns:host:port."
    )
    username: str | None = Field(None, max_length=256, description="TURN username.")
    credential_env: str | None = Field(
        None, pattern=r"^[A-Z_][A-Z0-9_]*$", description="Environment variable holding the TURN password."
    )

    @model_validator(mode="after")
    def _schemes(self) -> IceServerConfig:
        for url in self.urls:
            if not url.startswith(("stun:", "stuns:", "turn:", "turns:")):
                raise ValueError(f"{url!r} is not a stun:, stuns:, turn: or turns: URL")
        return self


class CallsConfig(Strict):
    """Live video (WHEP), one-to-one calls and briefings over WebRTC."""

    max_viewers_per_camera: int = Field(
        32, ge=1, le=10_000, description="WHEP viewers one camera serves at once; more get 503 with Retry-After."
    )
    max_viewers_per_user: int = Field(
        48,
        ge=1,
        le=10_000,
        description="WHEP viewers one login holds at once on this node (a wall of 16 and more); more get 429.",
    )
    max_views_of_a_camera_per_user: int = Field(
        4,
        ge=1,
        le=1_000,
        description=(
            "WHEP viewers of one camera one login holds at once (a tile, the alarm lane, an incident, the "
            "map); more get 429, so nobody can take every place at a camera."
        ),
    )
    max_sessions: int = Field(
        400, ge=1, le=100_000, description="Peer connections the hub holds at once (viewers, calls, briefings)."
    )
    ice_servers: list[IceServerConfig] = Field(
        default_factory=list, description="Optional STUN/TURN servers; empty means host candidates only."
    )
    connect_timeout_s: float = Field(
        15.0, ge=1, le=300, description="A peer that has not connected this long after its offer is dropped."
    )
    whep_allow_origins: list[str] = Field(
        default_factory=list,
        description=(
            "Origins of web pages outside this deployment whose WHEP players may watch cameras "
            '(e.g. https://player.example), or "*" for any: the routes answer them CORS. The offer '
            "still needs a token; the hub uses no cookies. Empty (default): only the nodes' own pages."
        ),
    )
    peer_timeout_s: float = Field(
        3.0,
        ge=0.5,
        le=60,
        description=(
            "A call member silent this long (no RTP, RTCP or DTLS) has vanished: its media session is "
            "released (they keep their place for rejoin_grace_s). WHEP viewers are not watched for "
            "silence; ICE consent ends them."
        ),
    )
    rejoin_grace_s: float = Field(
        25.0,
        ge=0,
        le=600,
        description=(
            "How long a call member whose media was lost (network change, page reload, failed offer) stays "
            "in the call and may rejoin with a new offer; then a one-to-one call ends, a listener has left."
        ),
    )
    ring_timeout_s: float = Field(45.0, ge=1, le=600, description="How long a call rings before it is missed.")
    viewer_queue_packets: int = Field(
        240, ge=8, le=10_000, description="Per-viewer packet queue; a slower viewer skips to the next keyframe."
    )
    video_bitrate_bps: int = Field(
        600_000, ge=50_000, le=20_000_000, description="Bitrate of video the hub encodes (calls, briefings)."
    )
    video_width: int = Field(640, ge=96, le=3840, description="Width of video the hub encodes, in pixels (even).")
    video_height: int = Field(360, ge=96, le=2160, description="Height of video the hub encodes, in pixels (even).")
    video_fps: float = Field(15.0, gt=0, le=60, description="Most frames per second the hub encodes.")
    keyframe_interval_s: float = Field(
        2.0, gt=0, le=30, description="Keyframe spacing of video the hub encodes (late joiners start there)."
    )


class WhipDeviceConfig(Strict):
    """A device (body camera, OBS Studio, a fixed encoder) allowed to publish video over WHIP."""

    id: Ident = Field(description="Device id; it publishes as camera field-<id>.")
    name: str = Field("", max_length=200, description="Display name of its camera (default: the camera id).")
    token_env: str = Field(
        pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="Environment variable holding its publish token (never the token itself in the file).",
    )
    grid: str | None = Field(None, description="Grid where its video is placed.")
    location: GeoPoint | None = Field(None, description="Where it stands, for the desk's map.")
    revoked: bool = Field(False, description="A revoked device's token is refused (401), and counted.")


class WhipConfig(Strict):
    """Field video in over WHIP (RFC 9725): workers' phones and devices publish as cameras."""

    enabled: bool = Field(True, description="Accept WHIP publishers at POST /whip/field-<name>.")
    devices: list[WhipDeviceConfig] = Field(default_factory=list, description="Devices with a publish token.")
    max_publishers: int = Field(32, ge=1, le=10_000, description="Publishers this hub node takes at once.")
    stall_timeout_s: float = Field(
        5.0, ge=0.5, le=600, description="A publisher that sends no video this long is ended; its camera goes offline."
    )
    keyframe_interval_s: float = Field(
        2.0,
        ge=0.2,
        le=60,
        description=(
            "Ask the publisher for a keyframe when none came this long: where viewers join, snapshots "
            "decode and clips start."
        ),
    )
    offline_kept_s: float = Field(
        600.0, ge=0, le=30 * 86400, description="How long a field camera stays listed (offline) after it stops."
    )


class FieldConfig(Strict):
    """The grid worker's phone: its outbox's replays and its on-duty track."""

    idempotency_ttl_s: float = Field(
        86_400.0,
        ge=60,
        le=30 * 86_400,
        description="How long the hub keeps an Idempotency-Key and its answer (a phone's outbox replays within this).",
    )
    track_retention_days: float = Field(
        30.0, gt=0, le=3650, description="How long on-duty location points are kept before they are pruned."
    )


class Settings(Strict):
    """The whole configuration of a hub."""

    server: ServerConfig = Field(default_factory=ServerConfig, description="Listening and shutdown.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Event log store and bus.")
    data_dir: Path = Field(Path("./data"), description="SQLite file, caches, snapshots and clips.")
    auth: AuthConfig = Field(default_factory=AuthConfig, description="Login tokens.")
    users: list[UserConfig] = Field(default_factory=list, description="Logins and their roles.")
    directory: DirectoryConfig = Field(default_factory=DirectoryConfig, description="District tree and people.")
    map: MapConfig = Field(default_factory=MapConfig, description="The desk's district map.")
    cameras: list[CameraConfig] = Field(default_factory=list, description="Cameras to ingest.")
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig, description="The incident desk.")
    calls: CallsConfig = Field(default_factory=CallsConfig, description="Live video, calls and briefings.")
    whip: WhipConfig = Field(default_factory=WhipConfig, description="Field video published over WHIP.")
    instructions: InstructionsConfig = Field(
        default_factory=InstructionsConfig, description="Broadcast instructions to people in the field."
    )
    field: FieldConfig = Field(default_factory=FieldConfig, description="The grid worker's phone app.")
    gb28181: Gb28181Config = Field(
        default_factory=Gb28181Config, description="The hub as a GB/T 28181 upper platform (devices register here)."
    )

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> Settings:
        # The YAML loader runs these itself so each problem gets its own line number.
        if info.context and info.context.get("defer_cross_checks"):
            return self
        problems = cross_check(self)
        if problems:
            raise ValueError("; ".join(f"{_loc_text(loc)}: {msg}" for loc, msg in problems))
        return self

    def secret_value(self) -> str | None:
        """The token signing secret, if one was provided."""
        return self.auth.secret.get_secret_value() if self.auth.secret else None

    def storage_url(self) -> str:
        """The effective SQLAlchemy URL of the event store."""
        if self.storage.url:
            return self.storage.url
        return f"sqlite:///{(self.data_dir / 'skyhub.db').resolve()}"


Loc = tuple[str | int, ...]


def _loc_text(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def walk_nodes(node: NodeConfig, loc: Loc, depth: int = 0) -> Iterator[tuple[NodeConfig, Loc, int]]:
    """Every node under (and including) ``node`` with its config location and depth."""
    yield node, loc, depth
    for i, child in enumerate(node.children):
        yield from walk_nodes(child, (*loc, "children", i), depth + 1)


def cross_check(s: Settings) -> list[tuple[Loc, str]]:
    """Checks that span sections: unique ids, references that resolve, tree depth."""
    problems: list[tuple[Loc, str]] = []
    nodes: dict[str, int] = {}
    if s.directory.root is not None:
        for node, loc, depth in walk_nodes(s.directory.root, ("directory", "root")):
            if depth >= len(LEVELS):
                problems.append((loc, f"the tree has only {len(LEVELS)} levels ({', '.join(LEVELS)})"))
            if node.id in nodes:
                problems.append(((*loc, "id"), f"duplicate node id {node.id!r}"))
            nodes[node.id] = depth
    grids = {n for n, d in nodes.items() if d == LEVELS.index("grid")}
    people: set[str] = set()
    for i, p in enumerate(s.directory.people):
        if p.id in people:
            problems.append((("directory", "people", i, "id"), f"duplicate person id {p.id!r}"))
        people.add(p.id)
        for j, g in enumerate(p.grids):
            if g not in grids:
                problems.append((("directory", "people", i, "grids", j), f"grid {g!r} does not exist"))
    if s.directory.root is not None:
        for node, loc, _depth in walk_nodes(s.directory.root, ("directory", "root")):
            if node.leader is not None and node.leader not in people:
                problems.append(((*loc, "leader"), f"person {node.leader!r} does not exist"))
            for j, nb in enumerate(node.neighbours):
                if nb not in grids:
                    problems.append(((*loc, "neighbours", j), f"grid {nb!r} does not exist"))
    users: set[str] = set()
    for i, u in enumerate(s.users):
        if u.username in users:
            problems.append((("users", i, "username"), f"duplicate username {u.username!r}"))
        users.add(u.username)
        if u.person is not None and u.person not in people:
            problems.append((("users", i, "person"), f"person {u.person!r} does not exist"))
        elif u.person is None and Role.WORKER in u.roles and u.username not in people:
            # A worker sees what concerns their grids, which the directory holds: without a person
            # they would see nothing at all.
            problems.append(
                (("users", i, "username"), f"worker {u.username!r} is no person of the directory; set `person:`")
            )
    if s.storage.redis_url and s.storage_url().startswith("sqlite"):
        problems.append(
            (
                ("storage", "redis_url"),
                "Redis links hub nodes that share a PostgreSQL store; a SQLite file serves one node (set storage.url)",
            )
        )
    cams: set[str] = set()
    for i, c in enumerate(s.cameras):
        if c.id in cams:
            problems.append((("cameras", i, "id"), f"duplicate camera id {c.id!r}"))
        cams.add(c.id)
        if c.grid is not None and c.grid not in grids:
            problems.append((("cameras", i, "grid"), f"grid {c.grid!r} does not exist"))
        if c.property is not None and nodes.get(c.property) != LEVELS.index("property"):
            problems.append((("cameras", i, "property"), f"property {c.property!r} does not exist"))
        clip_s = c.preroll_s + c.postroll_s
        if not 0 < clip_s <= CLIP_MAX_S:
            # Point at the roll the user wrote (postroll_s when both are written).
            field = (
                "postroll_s"
                if "postroll_s" in c.model_fields_set or "preroll_s" not in c.model_fields_set
                else "preroll_s"
            )
            problems.append(
                (
                    ("cameras", i, field),
                    f"preroll_s + postroll_s is {clip_s:g} s; an alert clip must last more than 0 and at most "
                    f"{CLIP_MAX_S:g} s",
                )
            )
        zones: set[str] = set()
        for j, z in enumerate(c.zones):
            if z.id in zones:
                problems.append((("cameras", i, "zones", j, "id"), f"duplicate zone id {z.id!r}"))
            zones.add(z.id)
        for j, msg in c.zone_problems():
            problems.append((("cameras", i, "zones", j, "polygon"), msg))
    devices: set[str] = set()
    for i, d in enumerate(s.whip.devices):
        if d.id in devices:
            problems.append((("whip", "devices", i, "id"), f"duplicate device id {d.id!r}"))
        devices.add(d.id)
        if d.grid is not None and d.grid not in grids:
            problems.append((("whip", "devices", i, "grid"), f"grid {d.grid!r} does not exist"))
        if f"field-{d.id}" in cams:
            problems.append((("whip", "devices", i, "id"), f"camera field-{d.id} is also a configured camera"))
    gb_devices: set[str] = set()
    for i, gd in enumerate(s.gb28181.devices):
        if gd.id in gb_devices:
            problems.append((("gb28181", "devices", i, "id"), f"duplicate device id {gd.id!r}"))
        gb_devices.add(gd.id)
    for i, rule in enumerate(s.gb28181.placement):
        if rule.grid not in grids:
            problems.append((("gb28181", "placement", i, "grid"), f"grid {rule.grid!r} does not exist"))
    return problems


ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "SKYHUB_SECRET": ("auth", "secret"),
    "SKYHUB_STORAGE_URL": ("storage", "url"),
    "SKYHUB_REDIS_URL": ("storage", "redis_url"),
}


SECRET_IN_FILE = "auth.secret must not be in the file; set SKYHUB_SECRET"


def apply_env(data: dict[str, Any], env: dict[str, str] | os._Environ[str] | None = None) -> dict[str, Any]:
    """Overlay secrets and deployment settings from the environment onto raw config data."""
    env = os.environ if env is None else env
    if isinstance(data.get("auth"), dict) and "secret" in data["auth"]:
        raise ValueError(SECRET_IN_FILE)
    for var, path in ENV_OVERRIDES.items():
        if env.get(var):
            section = data.setdefault(path[0], {})
            if isinstance(section, dict):
                section[path[1]] = env[var]
    if env.get("SKYHUB_ICE_ADDRESSES"):
        server = data.setdefault("server", {})
        if isinstance(server, dict):
            server["ice_addresses"] = [a.strip() for a in env["SKYHUB_ICE_ADDRESSES"].split(",") if a.strip()]
    return data

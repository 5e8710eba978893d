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
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from alerts.config import AnalysedCameraConfig, AnalysisConfig, ZoneConfig
from streams.config import CLIP_MAX_S, Ident, Strict
from streams.gb28181.config import Gb28181Config

LEVELS = ("district", "street", "community", "grid", "property")
"""The five levels of the district tree, top to bottom."""


class Role(StrEnum):
    """What a user may do; see :mod:`hub.access.policy` for the route table."""

    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    COORDINATOR = "coordinator"
    WORKER = "worker"
    VIEWER = "viewer"


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


LEASE_MARGIN_SHARE = 0.3
"""The camera lease's default safety margin, as a share of its TTL."""


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
            "share and hands one back while it holds more than its share (renewal runs on its own "
            "schedule, never behind a round). At most a third of the TTL."
        ),
    )
    camera_lease_margin_s: float | None = Field(
        None,
        gt=0,
        le=300,
        description=(
            "With Redis: the safety margin of a camera lease. A node stops a camera as soon as its last "
            "successful renewal is older than camera_lease_ttl_s minus this margin, so the camera is "
            "stopped here before its lease can expire and pass to another node (the margin is the time "
            "the stop has). Default: 30 % of the TTL (3 s of the default 10 s). The TTL minus the margin "
            "must leave room for two renewals."
        ),
    )
    camera_lease_max_takes_per_round: int = Field(
        4,
        ge=1,
        le=1000,
        description=(
            "With Redis: the most free cameras a node takes in one round, so that no node grabs every "
            "camera at once (and sheds them again) when it briefly sees itself alone."
        ),
    )

    def lease_margin_s(self) -> float:
        """The camera lease's safety margin in seconds (``camera_lease_margin_s`` or its default)."""
        if self.camera_lease_margin_s is not None:
            return self.camera_lease_margin_s
        return round(self.camera_lease_ttl_s * LEASE_MARGIN_SHARE, 3)

    @model_validator(mode="after")
    def _renew_within_ttl(self) -> StorageConfig:
        if self.camera_lease_renew_s * 3 > self.camera_lease_ttl_s:
            raise ValueError("camera_lease_renew_s must be at most a third of camera_lease_ttl_s")
        if self.camera_lease_ttl_s - self.lease_margin_s() < 2 * self.camera_lease_renew_s:
            raise ValueError(
                "camera_lease_ttl_s minus camera_lease_margin_s must leave room for two renewals "
                "(at least twice camera_lease_renew_s)"
            )
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


class CameraConfig(AnalysedCameraConfig):
    """One camera of the sky net: its source and analysis, and where it stands in the district."""

    property: str | None = Field(None, description="Optional property id under that grid.")
    location: GeoPoint | None = Field(None, description="Where the camera stands, for the desk's map.")


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
    consent_expiry_s: float = Field(
        30.0,
        ge=5,
        le=300,
        description=(
            "A peer that answers none of the hub's ICE consent checks (each retransmitted) this long has "
            "gone: its session is released, at most one check round (about 10 s) later. RFC 7675 says 30 s; "
            "this is how a vanished WHEP viewer is found."
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
    analysis: AnalysisConfig = Field(
        default_factory=lambda: AnalysisConfig(enabled=False),
        description="Frame analysis of its video (off unless `enabled: true`; decoding costs CPU).",
    )
    zones: list[ZoneConfig] = Field(default_factory=list, description="Zones of its picture, for its analysis.")


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
    analysis: AnalysisConfig = Field(
        default_factory=lambda: AnalysisConfig(enabled=False),
        description="Frame analysis of the video workers publish from their phones (off unless `enabled: true`).",
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
        # Its zones must work on its analysis frame, as a configured camera's (checked unbuilt: the
        # camera is made when the device goes live).
        probe = AnalysedCameraConfig.model_construct(
            id=f"field-{d.id}", url="whip://", zones=d.zones, analysis=d.analysis
        )
        for j, msg in probe.zone_problems():
            problems.append((("whip", "devices", i, "zones", j, "polygon"), msg))
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
    "SKYHUB_PUBLIC_URL": ("server", "public_url"),
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

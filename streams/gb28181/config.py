"""The ``gb28181`` section of the configuration: the hub as a GB/T 28181 upper platform."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

GbId = Annotated[str, Field(pattern=r"^[0-9]{20}$", description="A 20-digit GB/T 28181 code.")]
ENV_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GbDeviceConfig(_Strict):
    """A device (camera, NVR or lower platform) allowed to register."""

    id: GbId
    password: str | None = Field(
        None,
        description="``${NAME}``: the environment variable holding this device's SIP password "
        "(default: SKYHUB_GB_PASSWORD). Never the password itself.",
    )

    @field_validator("password")
    @classmethod
    def _env_only(cls, value: str | None) -> str | None:
        if value is not None and not ENV_REF.match(value):
            raise ValueError("a device password must be an environment reference like ${GB_NVR1}, never in the file")
        return value


class GbPlacementRule(_Strict):
    """Puts channels on the district tree: the first rule that matches a channel wins."""

    civil_code: str | None = Field(
        None, pattern=r"^[0-9]{2,12}$", description="Channels whose CivilCode starts with this."
    )
    parent_id: str | None = Field(
        None, pattern=r"^[0-9]{1,20}$", description="Channels whose ParentID starts with this."
    )
    device_id: str | None = Field(
        None, pattern=r"^[0-9]{1,20}$", description="Channels of devices whose id starts with this."
    )
    grid: str = Field(description="The grid node the matching channels are placed at.")

    @model_validator(mode="after")
    def _one_match(self) -> GbPlacementRule:
        if self.civil_code is None and self.parent_id is None and self.device_id is None:
            raise ValueError("a placement rule needs civil_code, parent_id or device_id")
        return self


class Gb28181Config(_Strict):
    """The hub as a GB/T 28181 upper platform (SIP registrar, catalogue, live PS-over-RTP video)."""

    enabled: bool = Field(False, description="Listen for GB/T 28181 devices.")
    id: GbId = Field("35050200002000000001", description="The hub's own 20-digit SIP server id.")
    domain: str = Field("3505020000", pattern=r"^[0-9]{10}$", description="The SIP domain (realm), 10 digits.")
    host: str = Field("0.0.0.0", description="Address the SIP server binds (UDP and TCP).")
    port: int = Field(5060, ge=0, le=65535, description="SIP port, UDP and TCP; 0 picks a free one.")
    media_host: str = Field("0.0.0.0", description="Address the RTP ports bind.")
    announce: str = Field("127.0.0.1", description="The hub's address devices send to (SDP c= line, Contact).")
    media_ports: tuple[int, int] = Field(
        (30000, 30999), description="First and last RTP port; one port per live stream."
    )
    keepalive_s: float = Field(60.0, ge=0.2, le=3600, description="Keepalive interval expected from devices.")
    keepalive_misses: int = Field(3, ge=1, le=100, description="Missed keepalives that make a device offline.")
    expires_s: int = Field(
        86400, ge=60, le=7 * 86400, description="Registration lifetime granted (the device may ask less)."
    )
    accept_any: bool = Field(
        False, description="Accept any device that knows SKYHUB_GB_PASSWORD, not only those listed in devices."
    )
    devices: list[GbDeviceConfig] = Field(default_factory=list, description="Devices allowed to register.")
    placement: list[GbPlacementRule] = Field(default_factory=list, description="Where channels go on the tree.")
    catalog_timeout_s: float = Field(
        10.0, gt=0, le=300, description="How long a catalogue answer may take to reach its SumNum."
    )
    catalog_refresh_s: float = Field(3600.0, ge=10, le=86400, description="Catalogue asked again this often.")
    invite_timeout_s: float = Field(5.0, gt=0, le=60, description="How long an INVITE may wait for its 200 OK.")
    rtp_timeout_s: float = Field(
        5.0, gt=0, le=120, description="No RTP for this long ends a stream (BYE, invited again with backoff)."
    )
    transport: str = Field(
        "udp", pattern=r"^(udp|tcp)$", description="Media transport asked in INVITEs: udp or tcp (passive)."
    )
    jitter_packets: int = Field(
        64, ge=4, le=2048, description="RTP packets held to put reordered packets back in order."
    )
    analysis: bool = Field(
        True, description="Analyse every channel's video like a configured camera's (decodes it all)."
    )
    idle_bye_s: float = Field(
        30.0,
        ge=0,
        le=86400,
        description="A channel nobody analyses is invited only while watched, and sent BYE this long "
        "after its last viewer left (standby meanwhile).",
    )
    max_transcodes: int = Field(
        2,
        ge=0,
        le=64,
        description="H.264 transcodes for browsers at once (H.265 channels without an H.264 sub-stream); "
        "past this, viewers of another such channel get snapshots.",
    )
    substream: bool = Field(
        True,
        description="For browsers, try an H.265 channel's sub-stream (a=streamnumber:1) before transcoding it.",
    )
    ptz_timeout_s: float = Field(
        1.0, gt=0, le=60, description="A PTZ move is stopped by the hub after this long unless renewed."
    )
    rate_per_s: float = Field(100.0, gt=0, le=100_000, description="SIP messages per second accepted from one address.")
    max_message_bytes: int = Field(65536, ge=1024, le=1 << 20, description="Longest SIP message (and MANSCDP body).")
    max_devices: int = Field(1000, ge=1, le=100_000, description="Devices registered at once.")
    max_channels_per_device: int = Field(256, ge=1, le=10_000, description="Channels taken from one catalogue.")

    @field_validator("media_ports")
    @classmethod
    def _ascending(cls, value: tuple[int, int]) -> tuple[int, int]:
        first, last = value
        if not 1024 <= first <= last <= 65535:
            raise ValueError(f"media_ports {first}-{last} must be an ascending range within 1024-65535")
        return value

    @model_validator(mode="after")
    def _id_in_domain(self) -> Gb28181Config:
        if not self.id.startswith(self.domain):
            raise ValueError(f"the server id {self.id} must start with its domain {self.domain}")
        return self

"""MANSCDP: the XML bodies GB/T 28181 carries in SIP MESSAGEs (queries, answers, notifications).

Parsed with ``defusedxml`` (no entity expansion, no external entities), decoded as the XML
declaration says (GB2312 is read as its superset GB18030, since devices that declare GB2312 often
send GBK characters), and size-limited before parsing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

VIDEO_TYPES = frozenset({"131", "132"})
"""Type codes (digits 11-13 of a GB id) of video channels: camera, network camera."""
_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9_.-]+)[\"'][^>]*\?>", re.I)
_ANY_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")


class ManscdpError(ValueError):
    """A body that is not acceptable MANSCDP; the text says why."""


@dataclass
class Channel:
    """One entry of a device's catalogue."""

    id: str
    """The channel's 20-digit id."""
    name: str
    """Its name as the device reports it."""
    civil_code: str = ""
    """Civil (administrative division) code."""
    parent_id: str = ""
    """The parent device or virtual organisation."""
    status: str = ""
    """``ON``/``OFF`` as reported."""
    manufacturer: str = ""
    """Manufacturer, if reported."""
    ptz_type: str = ""
    """PTZType (1 dome, 2 half-dome, 3 fixed, 4 remote-controlled), if reported."""

    @property
    def has_ptz(self) -> bool:
        """Whether it can be turned: a dome or a remote-controlled camera, or one whose catalogue
        does not say (the device then decides); a half-dome or a fixed camera cannot."""
        return self.ptz_type not in ("2", "3")

    @property
    def is_video(self) -> bool:
        """Whether this entry is a video channel (a camera), not a folder or an alarm input."""
        return len(self.id) == 20 and self.id[10:13] in VIDEO_TYPES


@dataclass
class Manscdp:
    """A parsed MANSCDP document."""

    root: str
    """``Query``, ``Response``, ``Notify`` or ``Control``."""
    cmd: str
    """CmdType (``Keepalive``, ``Catalog``, ``DeviceInfo``…)."""
    sn: int
    """Sequence number."""
    device_id: str
    """The DeviceID it concerns."""
    fields: dict[str, str] = field(default_factory=dict)
    """Its simple child elements' text (Status, Result, Manufacturer, SumNum…)."""
    channels: list[Channel] = field(default_factory=list)
    """The DeviceList items of a Catalog answer."""


def decode_body(body: bytes) -> str:
    """The body as text, per its XML declaration (UTF-8 when it has none)."""
    m = _DECL.match(body)
    enc = m.group(1).decode().lower() if m else "utf-8"
    if enc in ("gb2312", "gbk", "gb18030", "euc-cn"):
        enc = "gb18030"
    try:
        return body.decode(enc)
    except LookupError:
        raise ManscdpError(f"unknown encoding {enc!r}") from None
    except UnicodeDecodeError as exc:
        raise ManscdpError(f"not valid {enc}: {exc.reason} at byte {exc.start}") from None


def parse(body: bytes, max_bytes: int = 65536) -> Manscdp:
    """Parse one MANSCDP body; ManscdpError when too big, unsafe, malformed or incomplete."""
    if len(body) > max_bytes:
        raise ManscdpError(f"XML of {len(body)} bytes is over the {max_bytes}-byte limit")
    text = _ANY_DECL.sub("", decode_body(body), count=1)
    try:
        root = SafeET.fromstring(text, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise ManscdpError(f"refused XML ({type(exc).__name__}: DTDs and entities are not accepted)") from None
    except SafeET.ParseError as exc:
        raise ManscdpError(f"malformed XML: {exc}") from None
    cmd = _text(root, "CmdType")
    if not cmd:
        raise ManscdpError(f"<{root.tag}> without CmdType")
    sn = _text(root, "SN")
    doc = Manscdp(root.tag, cmd, int(sn) if sn.isdigit() else 0, _text(root, "DeviceID"))
    for child in root:
        if len(child) == 0 and child.tag not in ("CmdType", "SN", "DeviceID"):
            doc.fields[child.tag] = (child.text or "").strip()
    device_list = root.find("DeviceList")
    if device_list is not None:
        for item in device_list.findall("Item"):
            cid = _text(item, "DeviceID")
            if not cid:
                continue
            info = item.find("Info")
            doc.channels.append(
                Channel(
                    cid,
                    _text(item, "Name") or cid,
                    _text(item, "CivilCode"),
                    _text(item, "ParentID"),
                    _text(item, "Status"),
                    _text(item, "Manufacturer"),
                    _text(info, "PTZType") if info is not None else "",
                )
            )
    return doc


def _text(el: Element, tag: str) -> str:
    child = el.find(tag)
    return (child.text or "").strip() if child is not None else ""


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build(root: str, cmd: str, sn: int, device_id: str, encoding: str = "GB2312", **extra: str) -> bytes:
    """A MANSCDP document (``Query``/``Control``/``Response``) encoded as declared."""
    rows = "".join(f"<{k}>{_escape(v)}</{k}>\r\n" for k, v in extra.items())
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\r\n<{root}>\r\n<CmdType>{cmd}</CmdType>\r\n<SN>{sn}</SN>\r\n'
        f"<DeviceID>{device_id}</DeviceID>\r\n{rows}</{root}>\r\n"
    )
    return text.encode("gb18030" if encoding.upper() in ("GB2312", "GBK", "GB18030") else "utf-8")

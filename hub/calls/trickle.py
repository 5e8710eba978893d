"""Trickle ICE for WHEP sessions: ``PATCH`` with an SDP fragment (RFC 8840), as the WHEP draft and
RFC 9725 (WHIP) describe it.

A player that sends its offer before it has gathered every candidate sends the rest later, as
``application/trickle-ice-sdpfrag``: the ICE credentials, ``a=mid`` lines and ``a=candidate`` lines,
perhaps ``a=end-of-candidates``. They are handed to the session's ICE agent (204). The hub never
trickles its own: its answer already carries every candidate it has.

An ICE restart (a fragment with new ``ice-ufrag``/``ice-pwd``) is not supported: aiortc 1.16 cannot
restart ICE on a live connection. As RFC 9725 asks of a resource that trickles but does not
restart, it is refused with 422; the player makes a new session with a new POST instead. Because
the ICE session never changes, a session's entity tag (``ETag``) never changes either; a PATCH
whose ``If-Match`` names another one gets 412.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from aiortc.sdp import candidate_from_sdp

from hub.calls.errors import CallError
from hub.calls.sessions import PeerSession

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/trickle-ice-sdpfrag"
MAX_FRAGMENT_BYTES = 16 * 1024
"""Largest fragment accepted (a few hundred bytes is usual)."""
MAX_TRICKLED_CANDIDATES = 64
"""Candidates one session may trickle in all: each one costs connectivity checks."""


@dataclass
class Fragment:
    """What a trickle PATCH carries."""

    ufrag: str | None = None
    """``a=ice-ufrag`` (session or media level)."""
    pwd: str | None = None
    """``a=ice-pwd``."""
    candidates: list[tuple[str | None, int, str]] = field(default_factory=list)
    """(``a=mid`` of its m-line, index of its m-line, the ``a=candidate`` value)."""
    end: bool = False
    """``a=end-of-candidates`` was present."""


def parse_fragment(text: str) -> Fragment:
    """Read an SDP fragment; 400 when it is not one."""
    frag = Fragment()
    mid: str | None = None
    index = -1
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("m="):
            index += 1
            mid = None
        elif line.startswith("a=mid:"):
            mid = line[len("a=mid:") :].strip()
        elif line.startswith("a=ice-ufrag:"):
            frag.ufrag = line[len("a=ice-ufrag:") :].strip()
        elif line.startswith("a=ice-pwd:"):
            frag.pwd = line[len("a=ice-pwd:") :].strip()
        elif line.startswith("a=candidate:"):
            value = line[len("a=candidate:") :].strip()
            try:
                candidate_from_sdp(value)
            except (AssertionError, ValueError, IndexError):
                raise CallError(400, f"malformed candidate in the SDP fragment: {value[:80]!r}") from None
            frag.candidates.append((mid, max(index, 0), value))
        elif line == "a=end-of-candidates":
            frag.end = True
        elif not (line.startswith("a=") or line[:2] in ("v=", "o=", "s=", "t=", "c=")):
            raise CallError(400, f"not an SDP fragment line: {line[:80]!r}")
    return frag


async def apply_fragment(session: PeerSession, text: str, if_match: str | None) -> None:
    """Apply a trickle PATCH to ``session``: 412, 422 (ICE restart, too many candidates) or done."""
    if if_match is not None and if_match.strip() != "*" and session.etag not in _tags(if_match):
        raise CallError(412, f"If-Match {if_match.strip()} is not this session's ICE session ({session.etag})")
    frag = parse_fragment(text)
    restart = (frag.ufrag is not None and frag.ufrag != session.remote_ice_ufrag) or (
        frag.pwd is not None and frag.pwd != session.remote_ice_pwd
    )
    if restart:
        raise CallError(
            422,
            "ICE restart is not supported: end this session (DELETE) and POST a new offer",
            {"Accept-Patch": CONTENT_TYPE},
        )
    usable = [c for c in frag.candidates if ".local " not in c[2]]  # mDNS names: see peer.without_mdns_candidates
    if session.trickled + len(usable) > MAX_TRICKLED_CANDIDATES:
        raise CallError(422, f"a session may trickle at most {MAX_TRICKLED_CANDIDATES} candidates")
    session.trickled += len(usable)
    pc = session.pc
    transceivers = pc.getTransceivers()
    for mid, index, value in usable:
        candidate = candidate_from_sdp(value)
        candidate.sdpMid = mid if mid is not None else (transceivers[index].mid if index < len(transceivers) else None)
        candidate.sdpMLineIndex = index
        try:
            await pc.addIceCandidate(candidate)
        except Exception as exc:  # aioice refuses some (an unknown component, an unusable address)
            log.info("session %s: trickled candidate %r not used: %s", session.id, value[:80], exc)
    if frag.end:
        await pc.addIceCandidate(None)
    log.debug("session %s: %d candidates trickled%s", session.id, len(usable), ", end" if frag.end else "")


def _tags(header: str) -> set[str]:
    """The entity tags listed in an ``If-Match`` header (weak ones compared as strong)."""
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}

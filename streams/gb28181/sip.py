"""SIP messages (RFC 3261) as GB/T 28181 uses them: parse, build, digest authentication.

Only what an upper platform needs: requests and responses with headers and a body, the
``Via`` branch and ``rport``, tags, and MD5 digest (RFC 2617, with or without ``qop=auth``).
Anything malformed raises :class:`SipError` with a reason fit for the log.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field

SIP_VERSION = "SIP/2.0"
MAX_HEADERS = 64
COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
}
REASONS = {
    100: "Trying",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    503: "Service Unavailable",
}


class SipError(ValueError):
    """A message that is not valid SIP (or too big); the text says why."""


@dataclass
class SipMessage:
    """One SIP request or response."""

    method: str | None = None
    """Request method (``REGISTER``…); None for a response."""
    uri: str = ""
    """Request-URI of a request."""
    status: int = 0
    """Status code of a response."""
    reason: str = ""
    """Reason phrase of a response."""
    headers: list[tuple[str, str]] = field(default_factory=list)
    """Headers in order, names as written."""
    body: bytes = b""
    """The body (MANSCDP XML, SDP)."""

    @property
    def is_request(self) -> bool:
        """Whether this is a request."""
        return self.method is not None

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first header of this name (case-insensitive, compact forms understood)."""
        key = name.lower()
        for n, v in self.headers:
            n = n.lower()
            if COMPACT.get(n, n) == key:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """Every header of this name, in order."""
        key = name.lower()
        return [v for n, v in self.headers if COMPACT.get(n.lower(), n.lower()) == key]

    def set(self, name: str, value: str) -> None:
        """Replace (or add) a header."""
        key = name.lower()
        self.headers = [(n, v) for n, v in self.headers if COMPACT.get(n.lower(), n.lower()) != key]
        self.headers.append((name, value))

    @property
    def call_id(self) -> str:
        """The Call-ID."""
        return self.get("call-id") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        """The CSeq number and method."""
        value = self.get("cseq") or ""
        parts = value.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise SipError(f"bad CSeq {value!r}")
        return int(parts[0]), parts[1].upper()

    @property
    def branch(self) -> str:
        """The top Via's branch."""
        via = self.get("via") or ""
        return via_params(via).get("branch", "")

    def encode(self) -> bytes:
        """The message on the wire (Content-Length set from the body)."""
        first = (
            f"{self.method} {self.uri} {SIP_VERSION}"
            if self.is_request
            else f"{SIP_VERSION} {self.status} {self.reason}"
        )
        self.set("Content-Length", str(len(self.body)))
        lines = [first, *(f"{n}: {v}" for n, v in self.headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


def parse(data: bytes, max_bytes: int = 65536) -> SipMessage:
    """One SIP message from a datagram (or a framed stream message); SipError if malformed."""
    if len(data) > max_bytes:
        raise SipError(f"message of {len(data)} bytes is over the {max_bytes}-byte limit")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
        if not sep:
            raise SipError("no blank line after the headers")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipError("headers are not UTF-8") from None
    lines = text.replace("\r\n", "\n").split("\n")
    first = lines[0].strip()
    msg = SipMessage()
    if first.startswith(SIP_VERSION + " "):
        parts = first.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit() or not 100 <= int(parts[1]) <= 699:
            raise SipError(f"bad status line {first[:80]!r}")
        msg.status = int(parts[1])
        msg.reason = parts[2] if len(parts) > 2 else ""
    else:
        parts = first.split(" ")
        if len(parts) != 3 or parts[2] != SIP_VERSION or not re.fullmatch(r"[A-Z]+", parts[0]):
            raise SipError(f"bad request line {first[:80]!r}")
        msg.method, msg.uri = parts[0], parts[1]
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" and msg.headers:  # folded continuation
            n, v = msg.headers[-1]
            msg.headers[-1] = (n, v + " " + line.strip())
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or " " in name.strip():
            raise SipError(f"bad header line {line[:80]!r}")
        msg.headers.append((name.strip(), value.strip()))
        if len(msg.headers) > MAX_HEADERS:
            raise SipError(f"more than {MAX_HEADERS} headers")
    for required in ("via", "from", "to", "call-id", "cseq"):
        if msg.get(required) is None:
            raise SipError(f"no {required} header")
    msg.cseq  # noqa: B018 - validates
    length_text = msg.get("content-length")
    if length_text is not None:
        if not length_text.isdigit():
            raise SipError(f"bad Content-Length {length_text!r}")
        size = int(length_text)
        if size > len(body):
            raise SipError(f"body shorter than its Content-Length ({len(body)} < {size})")
        body = body[:size]
    msg.body = body
    return msg


def frame_length(buffer: bytes | bytearray) -> int | None:
    """Length of the first whole message in a TCP stream buffer, None until it is all there."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).decode("utf-8", "replace")
    m = re.search(r"(?im)^(?:content-length|l)\s*:\s*(\d+)\s*$", head)
    return end + 4 + (int(m.group(1)) if m else 0)


def via_params(via: str) -> dict[str, str]:
    """Parameters of one Via value (``branch``, ``rport``, ``received``…)."""
    out: dict[str, str] = {}
    for part in via.split(";")[1:]:
        k, _, v = part.strip().partition("=")
        out[k.lower()] = v
    return out


def header_params(value: str) -> dict[str, str]:
    """``;tag=…`` and other parameters after a name-addr (From, To, Contact)."""
    rest = value.rsplit(">", 1)[-1] if ">" in value else value
    return via_params(rest if rest.startswith(";") else ";" + rest.partition(";")[2] if ";" in rest else "")


def tag(value: str) -> str:
    """The ``tag`` parameter of a From/To value ('' if none)."""
    return header_params(value).get("tag", "")


def uri_user(value: str) -> str:
    """The user part of the SIP URI in a header or Request-URI (``sip:USER@host``)."""
    m = re.search(r"sips?:([^@;>\s]+)@", value)
    return m.group(1) if m else ""


def uri_of(value: str) -> str:
    """The URI inside ``<…>`` (or the bare value)."""
    m = re.search(r"<([^>]+)>", value)
    return m.group(1) if m else value.split(";")[0].strip()


def new_tag() -> str:
    """A fresh From/To tag."""
    return secrets.token_hex(5)


def new_branch() -> str:
    """A fresh RFC 3261 Via branch."""
    return "z9hG4bK" + secrets.token_hex(8)


def response(request: SipMessage, status: int, to_tag: str | None = None, reason: str | None = None) -> SipMessage:
    """A response to ``request`` copying Via, From, To (with ``to_tag`` added), Call-ID and CSeq."""
    res = SipMessage(status=status, reason=reason or REASONS.get(status, "Unknown"))
    for name in ("via", "from", "to", "call-id", "cseq"):
        for value in request.get_all(name):
            if name == "to" and to_tag and "tag=" not in value:
                value = f"{value};tag={to_tag}"
            res.headers.append((name.title() if name != "call-id" else "Call-ID", value))
    res.headers.append(("User-Agent", "skyhub"))
    return res


# -- digest -----------------------------------------------------------------------------------


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def auth_params(value: str) -> dict[str, str]:
    """The parameters of a ``Digest …`` Authorization or WWW-Authenticate header."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise SipError(f"not a Digest credential ({scheme[:20]!r})")
    out: dict[str, str] = {}
    for m in re.finditer(r'([A-Za-z-]+)\s*=\s*("([^"]*)"|[^,\s]+)', rest):
        out[m.group(1).lower()] = m.group(3) if m.group(3) is not None else m.group(2)
    return out


def digest_response(
    user: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str = "",
    nc: str = "",
    cnonce: str = "",
) -> str:
    """The ``response`` value of RFC 2617 MD5 digest."""
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if qop:
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{ha2}")


class NonceMaker:
    """Stateless nonces: a time and an HMAC of it, valid for ``ttl_s``."""

    def __init__(self, ttl_s: float = 300.0) -> None:
        self._key = secrets.token_bytes(16)
        self.ttl_s = ttl_s

    def make(self) -> str:
        """A fresh nonce."""
        t = f"{int(time.time()):x}"
        return t + hmac.new(self._key, t.encode(), "sha256").hexdigest()[:24]

    def valid(self, nonce: str) -> bool:
        """Whether the nonce is ours and still fresh."""
        t, mac = nonce[:-24], nonce[-24:]
        good = hmac.new(self._key, t.encode(), "sha256").hexdigest()[:24]
        if not t or not hmac.compare_digest(mac, good):
            return False
        try:
            return time.time() - int(t, 16) <= self.ttl_s
        except ValueError:
            return False


def check_digest(request: SipMessage, realm: str, password: str, nonces: NonceMaker) -> str | None:
    """None when the request's Authorization proves ``password``; else why not."""
    value = request.get("authorization")
    if value is None:
        return "no credentials"
    try:
        p = auth_params(value)
    except SipError as exc:
        return str(exc)
    if not nonces.valid(p.get("nonce", "")):
        return "stale or foreign nonce"
    if p.get("algorithm", "MD5").upper() != "MD5":
        return f"algorithm {p.get('algorithm')} not supported"
    expected = digest_response(
        p.get("username", ""),
        p.get("realm", ""),
        password,
        request.method or "",
        p.get("uri", ""),
        p.get("nonce", ""),
        p.get("qop", ""),
        p.get("nc", ""),
        p.get("cnonce", ""),
    )
    if p.get("realm", "") != realm:
        return f"realm {p.get('realm')!r} is not {realm!r}"
    if not hmac.compare_digest(expected, p.get("response", "")):
        return "wrong password (digest mismatch)"
    return None


def authorization(challenge: str, user: str, password: str, method: str, uri: str) -> str:
    """The Authorization header answering a WWW-Authenticate ``challenge`` (a device's side)."""
    p = auth_params(challenge)
    realm, nonce = p.get("realm", ""), p.get("nonce", "")
    qop = "auth" if "auth" in p.get("qop", "").split(",") else ""
    nc, cnonce = ("00000001", secrets.token_hex(8)) if qop else ("", "")
    resp = digest_response(user, realm, password, method, uri, nonce, qop, nc, cnonce)
    out = f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{resp}", algorithm=MD5'
    if qop:
        out += f', qop={qop}, nc={nc}, cnonce="{cnonce}"'
    return out

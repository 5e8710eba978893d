"""Camera URLs: expanding ``${ENV}`` references and keeping passwords out of sight.

The configured URL may hold ``${CAM_PASSWORD}``; it is expanded only when connecting, and a value
that lands in the user-info part is percent-encoded (see :func:`expand_env`). Anything
shown to people (logs, events, the API) goes through :func:`mask_url` or :func:`scrub`.

A password written into the URL itself may hold ``/``, ``?``, ``#``, ``@`` or ``:`` unencoded
(``rtsp://admin:Se/cret?9#x@y@cam/live``). A strict URL parser reads such a URL as host ``admin``
and port ``Se``, so :func:`split_userinfo` looks for the last ``@`` that is followed by a host,
and masking errs on the side of hiding too much.
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote, unquote, urlsplit

MASK = "***"
_ENV_REF = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")
"""A ``${NAME}`` reference to an environment variable."""
_HOSTPORT = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)(?::\d*)?(?=[/?#]|$)")
"""A host with an optional port, up to where the path, query or fragment begins."""


def _authority_end(tail: str) -> int:
    """Index in ``tail`` (the URL after ``scheme://``) where a strict parser ends the authority."""
    for i, ch in enumerate(tail):
        if ch in "/?#":
            return i
    return len(tail)


def split_userinfo(url: str) -> tuple[str, str | None, str]:
    """``(scheme://, userinfo or None, host and the rest)``; tolerant of raw reserved characters.

    ``split_userinfo("rtsp://admin:Se/cret@cam/live")`` is ``("rtsp://", "admin:Se/cret", "cam/live")``.
    A URL without ``://`` gives ``("", None, url)``.
    """
    scheme, sep, tail = url.partition("://")
    if not sep:
        return "", None, url
    head = scheme + sep
    end = _authority_end(tail)
    at = tail.rfind("@", 0, end)
    if at >= 0:
        return head, tail[:at], tail[at + 1 :]
    if ":" not in tail[:end]:
        return head, None, tail
    # "user:pass…" where the password holds / ? or #: the user-info ends at the last "@" that
    # is followed by a host. (A URL with a port and an "@" in its path is masked too much;
    # showing too little is the safe mistake.)
    at = len(tail)
    while (at := tail.rfind("@", end, at)) >= 0:
        if _HOSTPORT.match(tail, at + 1):
            return head, tail[:at], tail[at + 1 :]
    return head, None, tail


def expand_env(text: str, env: dict[str, str] | os._Environ[str]) -> str:
    """Replace ``${NAME}`` with the environment variable, so camera passwords stay out of the file.

    In a URL's user-info (``rtsp://admin:${CAM_PASSWORD}@cam/live``) the value is percent-encoded,
    so a password holding ``/ ? # @ :`` cannot change where the URL points; give the value raw,
    not encoded. A reference that is the whole user-info may hold ``user:password``.
    """
    head, userinfo, _ = split_userinfo(text)
    start, end = (len(head), len(head) + len(userinfo)) if userinfo is not None else (0, 0)
    whole_userinfo = ":" not in text[start:end]

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in env:
            raise ValueError(f"environment variable {m.group(1)} is not set")
        value = env[m.group(1)]
        if not start <= m.start() < end:
            return value
        if whole_userinfo:
            return ":".join(quote(part, safe="") for part in value.split(":", 1))
        return quote(value, safe="")

    return _ENV_REF.sub(sub, text)


_RAW_ENDS_USERINFO = "/?#@"
"""Characters that, written raw in a password, end the user-info for a strict URL parser."""


def _strict_port_ok(url: str) -> bool:
    """Whether a strict parser reads a usable (absent or numeric) port from ``url``."""
    try:
        port = urlsplit(url).port
    except ValueError:
        return False
    return port is None or port >= 0


def mask_url(url: str) -> str:
    """``url`` with the password (if any) replaced by ``***``; safe to log and show."""
    head, userinfo, rest = split_userinfo(url)
    if userinfo is None:
        return url if _strict_port_ok(url) else "(invalid URL)"
    user = userinfo.split(":", 1)[0]
    return f"{head}{user}:{MASK}@{rest}" if user else f"{head}{MASK}@{rest}"


def host_port(url: str) -> str:
    """``host:port`` (or ``host``) of ``url`` for messages; never includes credentials, never raises."""
    _, _, rest = split_userinfo(url)
    return rest[: _authority_end(rest)]


def secrets_of(url: str) -> list[str]:
    """The strings in ``url`` that must never be shown: the password, raw and URL-decoded."""
    _, userinfo, _ = split_userinfo(url)
    if userinfo is None or ":" not in userinfo:
        return []
    password = userinfo.split(":", 1)[1]
    if not password:
        return []
    return sorted({password, unquote(password)}, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` (an error message, say) with ``url`` masked and its password blanked out."""
    text = text.replace(url, mask_url(url))
    for secret in secrets_of(url):
        text = text.replace(secret, MASK)
    return text


def resolve(url: str, env: dict[str, str] | os._Environ[str] | None = None) -> str:
    """The URL to connect to: ``${NAME}`` replaced from the environment, the user-info encoded.

    A password written raw into the URL (``admin:Se/cret@cam``) is percent-encoded when a strict
    parser could not read the URL otherwise; FFmpeg and the HTTP source decode it again.
    Raises ValueError naming the missing variable (never its value).
    """
    expanded = expand_env(url, os.environ if env is None else env)
    head, userinfo, rest = split_userinfo(expanded)
    if userinfo is None:
        return expanded
    # A strict parser may read such a URL without complaint yet wrongly (``admin:#pw@cam`` has
    # host "admin"): encode whenever the user-info holds a character that ends it for them.
    if _strict_port_ok(expanded) and not any(ch in userinfo for ch in _RAW_ENDS_USERINFO):
        return expanded
    user, colon, password = userinfo.partition(":")
    encoded = quote(unquote(user), safe="") + colon + quote(unquote(password), safe="")
    return f"{head}{encoded}@{rest}"


def scheme(url: str) -> str:
    """Lower-case scheme of ``url`` ('' when there is none)."""
    head, sep, _ = url.partition("://")
    return head.lower() if sep else ""

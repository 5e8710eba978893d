"""Camera URLs: expanding ``${ENV}`` references and keeping passwords out of sight.

The configured URL may hold ``${CAM_PASSWORD}``; it is expanded only when connecting. Anything
shown to people (logs, events, the API) goes through :func:`mask_url` or :func:`scrub`.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit, urlunsplit

from hub.config import expand_env

MASK = "***"


def mask_url(url: str) -> str:
    """``url`` with the password (if any) replaced by ``***``; safe to log and show."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(invalid URL)"
    if parts.password is None and "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    netloc = f"{user}:{MASK}@{hostport}" if user else f"{MASK}@{hostport}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def secrets_of(url: str) -> list[str]:
    """The strings in ``url`` that must never be shown: the password, raw and URL-decoded."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    if not parts.password:
        return []
    return sorted({parts.password, unquote(parts.password)}, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` (an error message, say) with ``url`` masked and its password blanked out."""
    text = text.replace(url, mask_url(url))
    for secret in secrets_of(url):
        text = text.replace(secret, MASK)
    return text


def resolve(url: str, env: dict[str, str] | os._Environ[str] | None = None) -> str:
    """The URL to connect to: ``${NAME}`` replaced from the environment.

    Raises ValueError naming the missing variable (never its value).
    """
    return expand_env(url, os.environ if env is None else env)


def scheme(url: str) -> str:
    """Lower-case scheme of ``url`` ('' when there is none)."""
    head, sep, _ = url.partition("://")
    return head.lower() if sep else ""

"""Keep secrets out of logs: tokens and passwords in query strings and passwords in URLs are masked."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

_PARAM = re.compile(r"(?<![\w%.~+-])([\w%.~+-]+=)([^&\s\"']+)")
"""``name=value``: the name is judged as the server reads it, percent-decoded (``%74oken`` is ``token``)."""
_SECRET_NAMES = ("token", "password", "passwd", "secret")
_JWT = re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")
"""A JSON Web Token anywhere (a header, a body, a name nobody thought of): never worth logging."""
_URL_PASSWORD = re.compile(
    r"(\b[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)"  # scheme://user:
    r"\S+@"  # the password, which may hold / ? # @ : unencoded: up to the LAST "@" before a host
    r"(?=(?:\[[0-9a-f:.]+\]|[a-z0-9._~%-]+)(?::\d*)?(?:[/?#\s\"'<>),;]|$))",
    re.IGNORECASE,
)
"""A URL's password, also one with raw reserved characters (``rtsp://admin:Se/cret?9#x@y@cam/``)."""
_URL_PASSWORD_ANY = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)[^\s@]+@", re.IGNORECASE)
"""Second pass: ``scheme://user:…@`` whatever follows the host (``[rtsp://admin:pw@cam1]``)."""


def mask(text: str) -> str:
    """``text`` with token values and URL passwords replaced by ``***``."""
    text = _URL_PASSWORD.sub(r"\1***@", _PARAM.sub(_mask_param, _JWT.sub("***", text)))
    return _URL_PASSWORD_ANY.sub(r"\1***@", text)


def _mask_param(m: re.Match[str]) -> str:
    name = unquote_plus(m.group(1)[:-1]).strip().lower()
    return m.group(1) + "***" if name.endswith(_SECRET_NAMES) else m.group(0)


class SecretFilter(logging.Filter):
    """A handler filter that masks secrets in the formatted message and in tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set: format the traceback once, masked.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


def install(handler: logging.Handler | None = None) -> None:
    """Attach :class:`SecretFilter` to ``handler`` or to every root handler."""
    handlers = [handler] if handler else logging.getLogger().handlers
    for h in handlers:
        if not any(isinstance(f, SecretFilter) for f in h.filters):
            h.addFilter(SecretFilter())

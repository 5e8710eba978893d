"""Keep secrets out of logs: tokens and passwords in query strings and passwords in URLs are masked."""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"((?:access_)?token=|password=|secret=)[^&\s\"']+", re.IGNORECASE)
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
    text = _URL_PASSWORD.sub(r"\1***@", _TOKEN.sub(r"\1***", text))
    return _URL_PASSWORD_ANY.sub(r"\1***@", text)


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

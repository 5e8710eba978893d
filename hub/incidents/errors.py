"""Why the incident desk refuses a request; the routers answer each with its HTTP status."""

from __future__ import annotations

from typing import Any


class DeskError(Exception):
    """A refused request; ``status`` is the HTTP answer, ``detail`` is safe to show."""

    status = 400

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DeskError):
    """No such incident."""

    status = 404


class Forbidden(DeskError):
    """The caller's role or grids do not allow this."""

    status = 403


class Conflict(DeskError):
    """Illegal transition or stale version; ``extra`` says what is allowed or current."""

    status = 409


class Invalid(DeskError):
    """A field is wrong."""

    status = 422

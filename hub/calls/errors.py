"""Why a WebRTC request was refused, with the HTTP status it maps to."""

from __future__ import annotations


class CallError(Exception):
    """A refusal the routers turn into an HTTP response (``status``, ``detail``, extra headers)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None, **extra: object) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra

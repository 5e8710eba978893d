"""Alert lifecycle: per-frame verdicts in, started/updated/ended alerts out.

One alert per (kind, zone) is open at a time. While it is open, more evidence of the same kind
in the same zone updates it instead of starting another; it ends once the evidence has been
absent for a quiet period. After it ends, a per-kind cool-down keeps the same alert from starting
again at once, which is what stops a flapping detector from flooding the desk. An open alert is
*split* (ended, so the next evidence starts a new one) when the detector reports new, separate
activity after a quiet gap — unless that falls inside the kind's cool-down, counted from the start
of the gap. The quiet period (end grace) is per kind: never shorter than the gap the kind's rule
bridges, or an alert would end while its condition still holds. When no frames come at all, open
alerts *lapse* at the last frame (:meth:`AlertBook.lapse`), rather than wait for evidence that
cannot come or stretch across the gap.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alerts.events import AlertEvent, AlertKind, AlertType

log = logging.getLogger(__name__)

QUIET_S = 1.5
"""Evidence absent this long ends an alert (unless its rule bridges longer gaps: see ``quiets``)."""
TAMPER_QUIET_S = 1.0
"""A tamper condition gone this long ends its alert."""
UPDATE_GROWTH = 1.25
"""An open alert is updated when its score grows by this factor over the last reported one…"""
UPDATE_INTERVAL_S = 10.0
"""…or, while the evidence lasts, at least this often."""


@dataclass(slots=True)
class _Open:
    alert_id: str
    started: float
    last_seen: float
    score: float
    peak: float
    reported_score: float
    reported_ts: float
    details: dict[str, Any] = field(default_factory=dict)


class AlertBook:
    """The open alerts of one camera and their cool-downs."""

    def __init__(
        self,
        camera_id: str,
        cooldown_s: float,
        cooldowns: Mapping[AlertKind, float] | None = None,
        quiets: Mapping[AlertKind, float] | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.cooldown_s = cooldown_s
        self.cooldowns = dict(cooldowns or {})
        self.quiets = dict(quiets or {})
        """End grace per kind where it differs from :data:`QUIET_S` / :data:`TAMPER_QUIET_S`."""
        self._open: dict[tuple[AlertKind, str], _Open] = {}
        self._ended: dict[tuple[AlertKind, str], float] = {}
        self.suppressed = 0
        """Starts held back by a cool-down."""
        self.started = 0
        """Alerts started so far."""
        self.splits = 0
        """Open alerts ended because a new, separate event began (see :meth:`split`)."""

    def cooldown(self, kind: AlertKind) -> float:
        """The cool-down of one kind."""
        return self.cooldowns.get(kind, self.cooldown_s)

    def quiet(self, kind: AlertKind) -> float:
        """How long the evidence of one kind must be absent before its alert ends (its end grace)."""
        return self.quiets.get(kind, TAMPER_QUIET_S if kind.is_tamper else QUIET_S)

    def is_open(self, kind: AlertKind, zone: str) -> bool:
        """Whether an alert of this kind is open in this zone."""
        return (kind, zone) in self._open

    def open_alerts(self) -> list[tuple[AlertKind, str, str]]:
        """(kind, zone, alert id) of every open alert."""
        return [(k, z, a.alert_id) for (k, z), a in self._open.items()]

    def seen(self, kind: AlertKind, zone: str, score: float, ts: float, details: dict[str, Any]) -> AlertEvent | None:
        """Evidence of ``kind`` in ``zone`` on the frame at ``ts``: start, update or nothing."""
        key = (kind, zone)
        cur = self._open.get(key)
        if cur is None:
            ended = self._ended.get(key)
            if ended is not None and ts - ended < self.cooldown(kind):
                self.suppressed += 1
                return None
            alert_id = uuid.uuid4().hex[:16]
            self._open[key] = _Open(alert_id, ts, ts, score, score, score, ts, dict(details))
            self.started += 1
            log.info(
                "camera %s: %s alert %s started in zone %s (score %.3f)", self.camera_id, kind, alert_id, zone, score
            )
            return AlertEvent(AlertType.STARTED, kind, self.camera_id, zone, score, ts, alert_id, dict(details))
        cur.last_seen = ts
        cur.score = score
        cur.peak = max(cur.peak, score)
        cur.details = dict(details)
        grew = score >= cur.reported_score * UPDATE_GROWTH and score - cur.reported_score >= 0.01
        if grew or ts - cur.reported_ts >= UPDATE_INTERVAL_S:
            cur.reported_score, cur.reported_ts = score, ts
            data = {**details, "peak": round(cur.peak, 4), "duration_s": round(ts - cur.started, 2)}
            return AlertEvent(AlertType.UPDATED, kind, self.camera_id, zone, score, ts, cur.alert_id, data)
        return None

    def hold(self, ts: float) -> None:
        """Treat the frame at ``ts`` as no news: open alerts neither grow nor age (recalibration)."""
        for cur in self._open.values():
            cur.last_seen = max(cur.last_seen, ts)

    def expire(self, ts: float, seen: Iterable[tuple[AlertKind, str]] = ()) -> list[AlertEvent]:
        """End the open alerts whose evidence has been absent for their quiet period."""
        fresh = set(seen)
        out: list[AlertEvent] = []
        for key, cur in list(self._open.items()):
            if key in fresh:
                continue
            if ts - cur.last_seen >= self.quiet(key[0]) - 1e-6:
                out.append(self._end(key, cur, ts))
        return out

    def lapse(self, last_ts: float, gap_s: float, min_gap_s: float = 0.0) -> list[AlertEvent]:
        """No picture for ``gap_s`` seconds after the frame at ``last_ts``: end the open alerts whose
        end grace (or ``min_gap_s``, if longer) the gap exceeds, at ``last_ts``.

        Nothing was seen during the gap, so an alert is neither kept open through it nor stretched
        across it: it ends when the picture stopped. Signal loss is left alone (it is about the gap).
        """
        out: list[AlertEvent] = []
        for key, cur in list(self._open.items()):
            if key[0] is AlertKind.TAMPER_SIGNAL_LOST:
                continue
            if gap_s >= max(self.quiet(key[0]), min_gap_s) - 1e-6:
                out.append(self._end(key, cur, max(last_ts, cur.started), lapsed=True))
        return out

    def end(self, kind: AlertKind, zone: str, ts: float) -> AlertEvent | None:
        """End one alert now (its condition is known to be over)."""
        cur = self._open.get((kind, zone))
        return None if cur is None else self._end((kind, zone), cur, ts)

    def split(self, kind: AlertKind, zone: str, ts: float, quiet_since: float) -> AlertEvent | None:
        """End the open alert because new, separate activity began at ``ts`` after a quiet gap.

        The next :meth:`seen` then starts a new alert. Refused (None) while the kind's cool-down,
        counted from the start of the quiet gap (or the alert's start, if later), has not passed:
        a user who asked for a long cool-down gets one alert, not one per gap.
        """
        key = (kind, zone)
        cur = self._open.get(key)
        if cur is None:
            return None
        since = max(quiet_since, cur.started)
        if ts - since < self.cooldown(kind):
            return None
        ev = self._end(key, cur, ts, split=True)
        self._ended[key] = since
        self.splits += 1
        return ev

    def close(self, ts: float) -> list[AlertEvent]:
        """End every open alert (end of the video, the camera removed, a reset)."""
        return [self._end(key, cur, ts) for key, cur in list(self._open.items())]

    def _end(
        self, key: tuple[AlertKind, str], cur: _Open, ts: float, split: bool = False, lapsed: bool = False
    ) -> AlertEvent:
        del self._open[key]
        self._ended[key] = ts
        kind, zone = key
        data: dict[str, Any] = {
            "peak": round(cur.peak, 4),
            "duration_s": round(ts - cur.started, 2),
            "started_ts": cur.started,
        }
        if split:
            data["split"] = True
        if lapsed:
            data["no_frames"] = True
        log.info(
            "camera %s: %s alert %s ended in zone %s after %.1f s",
            self.camera_id,
            kind,
            cur.alert_id,
            zone,
            ts - cur.started,
        )
        return AlertEvent(AlertType.ENDED, kind, self.camera_id, zone, cur.score, ts, cur.alert_id, data)

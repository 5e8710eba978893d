"""Alert lifecycle: merge while open, quiet end, per-kind cool-down, throttled updates."""

from __future__ import annotations

from alerts.events import AlertKind, AlertType
from alerts.lifecycle import QUIET_S, UPDATE_INTERVAL_S, AlertBook


def test_repeats_while_open_update_one_alert_and_it_ends_after_quiet() -> None:
    book = AlertBook("cam", cooldown_s=0.0)
    ev = book.seen(AlertKind.INTRUSION, "gate", 0.1, 0.0, {})
    assert ev is not None and ev.type is AlertType.STARTED
    for i in range(1, 10):
        more = book.seen(AlertKind.INTRUSION, "gate", 0.1, i * 0.2, {})
        assert more is None or more.type is AlertType.UPDATED
        assert more is None or more.alert_id == ev.alert_id
    assert book.expire(1.8 + QUIET_S - 0.1) == []
    ended = book.expire(1.8 + QUIET_S)
    assert [e.type for e in ended] == [AlertType.ENDED] and ended[0].alert_id == ev.alert_id
    assert ended[0].details["duration_s"] == round(1.8 + QUIET_S, 2)


def test_kinds_and_zones_are_separate_alerts() -> None:
    book = AlertBook("cam", cooldown_s=0.0)
    a = book.seen(AlertKind.INTRUSION, "gate", 0.1, 0.0, {})
    b = book.seen(AlertKind.INTRUSION, "door", 0.1, 0.0, {})
    c = book.seen(AlertKind.LOITERING, "gate", 0.1, 0.0, {})
    assert a and b and c and len({a.alert_id, b.alert_id, c.alert_id}) == 3


def test_cooldown_stops_flapping() -> None:
    book = AlertBook("cam", cooldown_s=30.0, cooldowns={AlertKind.TAMPER_FROZEN: 5.0})
    assert book.seen(AlertKind.INTRUSION, "gate", 0.1, 0.0, {}) is not None
    assert book.expire(QUIET_S)
    # Flapping: back on and off within the cool-down — no new alert.
    assert book.seen(AlertKind.INTRUSION, "gate", 0.1, 5.0, {}) is None
    assert book.suppressed == 1
    assert book.seen(AlertKind.INTRUSION, "gate", 0.1, QUIET_S + 30.0, {}) is not None
    # A kind with its own cool-down.
    assert book.seen(AlertKind.TAMPER_FROZEN, "camera", 1.0, 0.0, {}) is not None
    book.end(AlertKind.TAMPER_FROZEN, "camera", 1.0)
    assert book.seen(AlertKind.TAMPER_FROZEN, "camera", 1.0, 4.0, {}) is None
    assert book.seen(AlertKind.TAMPER_FROZEN, "camera", 1.0, 6.5, {}) is not None


def test_updates_are_throttled() -> None:
    book = AlertBook("cam", cooldown_s=0.0)
    book.seen(AlertKind.CROWD, "sq", 0.3, 0.0, {})
    same = [book.seen(AlertKind.CROWD, "sq", 0.3, t * 0.2, {}) for t in range(1, 20)]
    assert all(e is None for e in same)
    grown = book.seen(AlertKind.CROWD, "sq", 0.5, 4.0, {})
    assert grown is not None and grown.type is AlertType.UPDATED and grown.details["peak"] == 0.5
    late = book.seen(AlertKind.CROWD, "sq", 0.5, 4.0 + UPDATE_INTERVAL_S, {})
    assert late is not None and late.type is AlertType.UPDATED


def test_hold_keeps_alerts_open_through_recalibration() -> None:
    book = AlertBook("cam", cooldown_s=0.0)
    book.seen(AlertKind.MOTION, "frame", 0.1, 0.0, {})
    for t in (0.5, 1.0, 1.5, 2.0):
        book.hold(t)
        assert book.expire(t) == []
    assert book.expire(2.0 + QUIET_S)


def test_close_ends_everything() -> None:
    book = AlertBook("cam", cooldown_s=0.0)
    book.seen(AlertKind.MOTION, "frame", 0.1, 0.0, {})
    book.seen(AlertKind.TAMPER_MOVED, "camera", 1.0, 0.0, {})
    assert {e.kind for e in book.close(3.0)} == {AlertKind.MOTION, AlertKind.TAMPER_MOVED}
    assert book.open_alerts() == []


def test_split_ends_the_open_alert_so_the_next_evidence_starts_a_new_one() -> None:
    book = AlertBook("cam", cooldown_s=0.0, cooldowns={AlertKind.INTRUSION: 10.0})
    first = book.seen(AlertKind.MOTION, "frame", 0.2, 0.0, {})
    assert first is not None
    ended = book.split(AlertKind.MOTION, "frame", 5.0, quiet_since=3.0)
    assert ended is not None and ended.alert_id == first.alert_id and ended.details["split"] is True
    second = book.seen(AlertKind.MOTION, "frame", 0.2, 5.0, {})
    assert second is not None and second.type is AlertType.STARTED and second.alert_id != first.alert_id
    # Inside the kind's cool-down (counted from the start of the quiet gap) there is no split.
    assert book.seen(AlertKind.INTRUSION, "gate", 0.2, 0.0, {}) is not None
    assert book.split(AlertKind.INTRUSION, "gate", 8.0, quiet_since=2.0) is None
    assert book.is_open(AlertKind.INTRUSION, "gate")
    assert book.split(AlertKind.INTRUSION, "gate", 13.0, quiet_since=2.0) is not None


def test_a_gap_without_frames_ends_alerts_at_the_last_frame_by_their_own_grace() -> None:
    book = AlertBook("cam", cooldown_s=0.0, quiets={AlertKind.LOITERING: 2.0})
    ids = {}
    for kind, zone in (
        (AlertKind.INTRUSION, "gate"),
        (AlertKind.LOITERING, "door"),
        (AlertKind.TAMPER_SIGNAL_LOST, "camera"),
    ):
        ev = book.seen(kind, zone, 1.0, 10.0, {})
        assert ev is not None
        ids[kind] = ev.alert_id
    assert book.lapse(10.0, QUIET_S - 0.1) == []
    ended = book.lapse(10.0, 1.8)  # past the intrusion's grace, inside the loitering's
    assert [(e.kind, e.ts, e.details["no_frames"]) for e in ended] == [(AlertKind.INTRUSION, 10.0, True)]
    ended = book.lapse(10.0, 2.5)
    assert [(e.kind, e.ts) for e in ended] == [(AlertKind.LOITERING, 10.0)]
    # Signal loss is about the gap itself: left to the ingest supervisor's verdict.
    assert book.open_alerts() == [(AlertKind.TAMPER_SIGNAL_LOST, "camera", ids[AlertKind.TAMPER_SIGNAL_LOST])]
    # A frame rate slower than the grace: no gap between two frames is an outage.
    book.seen(AlertKind.INTRUSION, "gate", 1.0, 20.0, {})
    assert book.lapse(20.0, 2.0, min_gap_s=4.0) == []

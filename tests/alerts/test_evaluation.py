"""Scoring against hand labels: alert starts and labelled events are matched one to one."""

from __future__ import annotations

import pytest

from alerts.evaluation import match_starts, score


def test_one_start_between_two_neighbouring_events_finds_only_one() -> None:
    # 30.0 lies within the 1 s tolerance of both events; it is nearer the second one's start.
    s = score([(30.0, 33.0)], [(27.3, 29.1), (30.9, 32.1)])
    assert (s.found, s.true_alerts, s.precision) == (1, 1, 1.0)
    assert s.recall == 0.5 and s.delays == [pytest.approx(-0.9)] and s.early == 1
    assert match_starts([30.0], [(27.3, 29.1), (30.9, 32.1)]) == {1: 0}


def test_each_event_gets_its_nearest_start() -> None:
    truth = [(10.0, 12.0), (12.5, 15.0)]
    # The second start falls in both windows; the first already took the first event.
    assert match_starts([10.2, 12.6], truth) == {0: 0, 1: 1}
    s = score([(10.2, 12.4), (12.6, 15.5)], truth)
    assert s.found == 2 and s.delays == pytest.approx([0.2, 0.1])


def test_a_fragmented_event_is_found_once_and_counted_in_starts_per_found_event() -> None:
    truth = [(0.0, 10.0), (20.0, 25.0), (40.0, 45.0)]
    s = score([(0.5, 3.0), (4.0, 6.0), (7.0, 9.0), (20.1, 26.0)], truth)
    assert s.found == 2 and s.true_alerts == 4
    assert s.starts_per_event == 4 / 3  # flattered by the missed event…
    assert s.starts_per_found_event == 2.0  # …this figure is not


def test_starts_outside_every_event_are_false_alarms_and_covered_events_are_apart() -> None:
    truth = [(10.0, 12.0), (12.5, 15.0)]
    s = score([(5.0, 6.0), (9.5, 16.0)], truth)
    assert s.alerts == 2 and s.true_alerts == 1 and s.precision == 0.5
    assert s.found == 1 and s.covered == 1 and s.covered_recall == 1.0


def test_early_starts_are_negative_delays_and_the_median_keeps_them() -> None:
    # Alerts up to the tolerance before the labelled start are found, early: not clamped to a delay
    # of 0, which would flatter the median (here it would read 0.0 s).
    truth = [(10.0, 12.0), (20.0, 22.0), (30.0, 32.0)]
    s = score([(9.2, 12.0), (19.4, 22.0), (30.3, 32.0)], truth)
    assert s.found == 3 and s.early == 2
    assert s.median_delay_s == pytest.approx(-0.6)
    assert s.as_dict()["early"] == 2 and s.as_dict()["median_delay_s"] == -0.6

"""Floor control rules: one holder, grants, revokes, priority preemption."""

from __future__ import annotations

import pytest

from hub.calls.floor import FloorControl


def test_request_waits_for_a_grant() -> None:
    f = FloorControl()
    change = f.request("a")
    assert change.how == "queued" and f.holder is None and f.waiting == {"a": 0}
    assert f.grant("a").granted == "a" and f.holder == "a" and f.waiting == {}


def test_higher_priority_preempts_equal_waits() -> None:
    f = FloorControl()
    f.grant("a")
    assert f.request("b", 0).how == "queued" and f.holder == "a"
    change = f.request("c", 1)
    assert (change.how, change.granted, change.revoked) == ("preempted", "c", "a")
    assert f.request("d", 1).how == "queued"  # equal priority does not preempt
    assert f.request("e", 2).revoked == "c"
    assert f.holder == "e" and f.holder_priority == 2


def test_revoke_release_and_bounds() -> None:
    f = FloorControl()
    assert f.revoke().how == ""
    f.grant("a")
    assert f.release("b").how == ""
    assert f.release("a").how == "released" and f.holder is None
    f.grant("a")
    assert f.revoke().revoked == "a" and f.holder is None
    with pytest.raises(ValueError):
        f.request("x", 3)
    assert f.request("a").how == "queued"
    assert f.grant("a").how == "granted"
    assert f.request("a").how == ""  # the holder asking again changes nothing

"""Secrets never reach the logs: what the masking covers."""

from __future__ import annotations

import pytest

from hub.logsafe import mask


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("GET /ws/events?since=3&token=eyJhbGciOi.abc.def HTTP/1.1", "GET /ws/events?since=3&token=*** HTTP/1.1"),
        ("access_token=abc123&x=1", "access_token=***&x=1"),
        ("rtsp://admin:hunter2@10.0.0.5/live", "rtsp://admin:***@10.0.0.5/live"),
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("unix:///run/redis.sock?db=0&password=s3cret", "unix:///run/redis.sock?db=0&password=***"),
        ("nothing secret here: since=4", "nothing secret here: since=4"),
    ],
)
def test_tokens_and_passwords_are_masked(text: str, shown: str) -> None:
    assert mask(text) == shown

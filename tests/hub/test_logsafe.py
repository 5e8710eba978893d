"""Secrets never reach the logs: what the masking covers."""

from __future__ import annotations

import io
import logging

import pytest

from hub.logsafe import SecretFilter, mask

HARD = "Se/cret?9#x@y"
"""A password with every character that ends or splits a URL's authority."""


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("GET /ws/events?since=3&token=eyJhbGciOi.abc.def HTTP/1.1", "GET /ws/events?since=3&token=*** HTTP/1.1"),
        ("access_token=abc123&x=1", "access_token=***&x=1"),
        ("rtsp://admin:hunter2@10.0.0.5/live", "rtsp://admin:***@10.0.0.5/live"),
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("unix:///run/redis.sock?db=0&password=s3cret", "unix:///run/redis.sock?db=0&password=***"),
        ("nothing secret here: since=4", "nothing secret here: since=4"),
        # The name as the server decodes it: a percent-encoded or differently cased name is no way round.
        ("GET /ws/worker?%74oken=abc.def.ghi HTTP/1.1", "GET /ws/worker?%74oken=*** HTTP/1.1"),
        ("GET /x?since=1&%54%4F%4B%45%4E=abc", "GET /x?since=1&%54%4F%4B%45%4E=***"),
        ("refresh_token=r1&pass%77ord=hunter2", "refresh_token=***&pass%77ord=***"),
        # A JWT is masked wherever it shows, under any name or none.
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ3MSJ9.c2ln", "Authorization: Bearer ***"),
        ("?tok=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ3MSJ9.c2ln&x=1", "?tok=***&x=1"),
        ("tokens_left=3 keyframe=eyJump", "tokens_left=3 keyframe=eyJump"),
        ("rtsp://10.0.0.5:554/live and http://cam/x.jpg", "rtsp://10.0.0.5:554/live and http://cam/x.jpg"),
        (f"open rtsp://admin:{HARD}@10.0.0.5:554/live failed", "open rtsp://admin:***@10.0.0.5:554/live failed"),
        (f"'rtsp://admin:{HARD}@cam.local' refused", "'rtsp://admin:***@cam.local' refused"),
        (f"rtsp://admin:{HARD}@[fd00::5]/x", "rtsp://admin:***@[fd00::5]/x"),
        ("http://op:p@ss:w0rd@10.0.0.7:8080/v.mjpg", "http://op:***@10.0.0.7:8080/v.mjpg"),
        ("a rtsp://u:a#b@h1/x b rtsp://v:c/d@h2/y", "a rtsp://u:***@h1/x b rtsp://v:***@h2/y"),
        # Whatever follows the host, the password goes.
        ("cams [rtsp://admin:pw@cam1]", "cams [rtsp://admin:***@cam1]"),
        ("{rtsp://admin:s3cr3t@10.0.0.5}", "{rtsp://admin:***@10.0.0.5}"),
        ("rtsp://u:p@cam1! and rtsp://u:q@cam2|x", "rtsp://u:***@cam1! and rtsp://u:***@cam2|x"),
    ],
)
def test_tokens_and_passwords_are_masked(text: str, shown: str) -> None:
    assert mask(text) == shown


def test_filter_masks_message_args_and_traceback() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(SecretFilter())
    logger = logging.getLogger("test_logsafe.filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        url = f"rtsp://admin:{HARD}@10.0.0.5/live"
        logger.warning("camera %s: cannot open %s", "c1", url)
        try:
            raise ValueError(f"Port could not be cast for {url}")
        except ValueError:
            logger.exception("camera c1: reader error")
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert "Traceback" in text and "ValueError" in text  # the traceback is kept, only masked
    assert "rtsp://admin:***@10.0.0.5/live" in text
    assert "cret" not in text

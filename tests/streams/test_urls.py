"""Camera URLs: passwords with reserved characters are masked everywhere and still connect."""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

import pytest

from streams.urls import expand_env, host_port, mask_url, resolve, scrub, secrets_of

HARD = "Se/cret?9#x@y"
"""A password a strict URL parser misreads: ``/ ? #`` end the authority, ``@`` splits it."""
PASSWORDS = [HARD, "p@ss:w0rd", "a#b", "?lead", "/lead", "tail/", "hunter2", "x%2Fy", "semi;co,lon=1&2"]


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize(
    ("template", "shown"),
    [
        ("rtsp://admin:{pw}@10.0.0.5:554/Streaming/Channels/101?transport=tcp", "rtsp://admin:***@10.0.0.5:554/Streaming/Channels/101?transport=tcp"),
        ("rtsp://admin:{pw}@cam.local", "rtsp://admin:***@cam.local"),
        ("http://op:{pw}@[fd00::5]:8080/video.mjpg", "http://op:***@[fd00::5]:8080/video.mjpg"),
        ("rtsp://:{pw}@10.0.0.5/live", "rtsp://***@10.0.0.5/live"),
    ],
)  # fmt: skip
def test_raw_password_is_masked_and_found(password: str, template: str, shown: str) -> None:
    url = template.format(pw=password)
    assert mask_url(url) == shown
    assert password in secrets_of(url)
    assert password not in host_port(url) and host_port(url) in shown
    message = f"open {url!r} failed; password was {password}"
    assert password not in scrub(message, url)


@pytest.mark.parametrize(
    "url",
    ["rtsp://10.0.0.5:554/live", "http://cam/snap.jpg?size=2", "synthetic://street", "file:///media/a@b.mp4"],
)
def test_urls_without_credentials_are_unchanged(url: str) -> None:
    assert mask_url(url) == url
    assert secrets_of(url) == []
    assert resolve(url, {}) == url


def test_unparseable_url_is_not_shown() -> None:
    # No "@" anywhere: the text after ":" may be a password; never echo it.
    assert mask_url("rtsp://admin:Se/cret") == "(invalid URL)"


@pytest.mark.parametrize("password", PASSWORDS)
def test_password_from_env_is_percent_encoded_in_the_userinfo(password: str) -> None:
    url = resolve("rtsp://admin:${CAM_PASSWORD}@10.0.0.5:554/live?ch=${CH}", {"CAM_PASSWORD": password, "CH": "1"})
    parts = urlsplit(url)  # a strict parser reads it as the camera, not as host "admin"
    assert (parts.hostname, parts.port, parts.path, parts.query) == ("10.0.0.5", 554, "/live", "ch=1")
    assert parts.username == "admin" and unquote(parts.password or "") == password
    assert mask_url(url) == "rtsp://admin:***@10.0.0.5:554/live?ch=1"
    assert password not in scrub(f"error at {url}: auth {quote(password, safe='')} / {password}", url)


def test_whole_userinfo_from_env_keeps_its_colon() -> None:
    url = expand_env("rtsp://${CAM_CREDS}@10.0.0.5/live", {"CAM_CREDS": f"admin:{HARD}"})
    parts = urlsplit(url)
    assert (parts.username, unquote(parts.password or ""), parts.hostname) == ("admin", HARD, "10.0.0.5")


def test_env_outside_the_userinfo_is_taken_as_is() -> None:
    assert expand_env("synthetic://${SCENE}", {"SCENE": "street"}) == "synthetic://street"
    assert expand_env("rtsp://${HOST}/a?b=${B}", {"HOST": "10.0.0.5:554", "B": "x/y"}) == "rtsp://10.0.0.5:554/a?b=x/y"


def test_raw_password_in_the_url_is_encoded_for_connecting() -> None:
    url = resolve(f"rtsp://admin:{HARD}@10.0.0.5:554/live", {})
    parts = urlsplit(url)
    assert (parts.hostname, parts.port, unquote(parts.password or "")) == ("10.0.0.5", 554, HARD)
    already = f"rtsp://admin:{quote(HARD, safe='')}@10.0.0.5/live"
    assert resolve(already, {}) == already  # written encoded: left alone, not encoded twice


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("rtsp://admin:#Passw0rd@cam/live", "#Passw0rd"),
        ("rtsp://admin:/x@cam/live", "/x"),
        ("http://admin:2024#x@cam/mjpeg", "2024#x"),
    ],
)
def test_raw_password_a_strict_parser_misreads_quietly_is_encoded(url: str, password: str) -> None:
    # urlsplit reads these without complaint, with host "admin": they must be encoded all the same.
    parts = urlsplit(resolve(url, {}))
    assert (parts.hostname, unquote(parts.password or "")) == ("cam", password)


def test_missing_variable_is_named_not_shown() -> None:
    with pytest.raises(ValueError, match="CAM_PASSWORD is not set"):
        resolve("rtsp://admin:${CAM_PASSWORD}@h/x", {})

"""Config: the YAML loader, its line-numbered errors, env overrides, and `skyhub check-config`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.config import Settings
from hub.configfile import ConfigError, load_settings
from tests.conftest import REPO

GOOD = """\
users:
  - {username: admin, roles: [admin]}
directory:
  root:
    id: d
    name: D
    children:
      - id: s
        name: S
        children:
          - id: c
            name: C
            children:
              - {id: g1, name: G1}
  people:
    - {id: p1, name: P1, grids: [g1]}
cameras:
  - id: cam1
    url: synthetic://street
    grid: g1
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "skyhub.yaml"
    p.write_text(text)
    return p


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), env={})
    return [str(p) for p in info.value.problems]


def test_shipped_configs_are_valid() -> None:
    for path in (REPO / "hub" / "demo.yaml", REPO / "configs" / "example.yaml", REPO / "configs" / "cluster.yaml"):
        s = load_settings(path, env={})
        assert s.cameras


def test_good_config_loads_with_defaults(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD), env={})
    assert s.server.port == 8080 and s.cameras[0].stall_timeout_s == 10.0
    assert s.secret_value() is None


def test_duplicate_ids_are_reported_with_their_lines(tmp_path: Path) -> None:
    text = GOOD + "  - id: cam1\n    url: synthetic://plaza\n"
    out = problems(tmp_path, text)
    assert any(":21:" in p and "duplicate camera id 'cam1'" in p for p in out), out


def test_camera_on_missing_grid(tmp_path: Path) -> None:
    out = problems(tmp_path, GOOD.replace("grid: g1", "grid: g9"))
    assert out == [f"{tmp_path / 'skyhub.yaml'}:20: cameras[0].grid: grid 'g9' does not exist"]


def test_unknown_role_and_unknown_key_all_reported(tmp_path: Path) -> None:
    text = GOOD.replace("roles: [admin]", "roles: [admiral]").replace(
        "    grid: g1\n", "    grid: g1\n    colour: red\n"
    )
    out = problems(tmp_path, text)
    assert len(out) == 2, out
    assert ":2:" in out[0] and "users[0].roles[0]" in out[0] and "admin" in out[0]
    assert ":21:" in out[1] and "cameras[0].colour" in out[1] and "Extra inputs" in out[1]


def test_out_of_bounds_value(tmp_path: Path) -> None:
    out = problems(tmp_path, GOOD + "    stall_timeout_s: 0\n")
    assert any(":21:" in p and "stall_timeout_s" in p for p in out), out


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    out = problems(tmp_path, GOOD + "\tbad: 1\n")
    assert len(out) == 1 and ":21:" in out[0] and "(syntax)" in out[0], out


def test_secret_in_the_file_is_refused(tmp_path: Path) -> None:
    out = problems(tmp_path, GOOD + "auth:\n  secret: hunter2hunter2\n")
    assert any("SKYHUB_SECRET" in p for p in out), out
    assert not any("hunter2" in p for p in out)


def test_environment_overrides(tmp_path: Path) -> None:
    env = {
        "SKYHUB_SECRET": "s" * 40,
        "SKYHUB_ICE_ADDRESSES": "127.0.0.1, 10.0.0.5",
        "SKYHUB_STORAGE_URL": "sqlite+aiosqlite:///x.db",
    }
    s = load_settings(write(tmp_path, GOOD), env=env)
    assert s.secret_value() == "s" * 40
    assert s.server.ice_addresses == ["127.0.0.1", "10.0.0.5"]
    assert s.storage_url() == "sqlite+aiosqlite:///x.db"
    assert "s" * 40 not in s.model_dump_json()


def test_dict_construction_runs_cross_checks() -> None:
    with pytest.raises(ValidationError, match="grid 'nowhere' does not exist"):
        Settings.model_validate({"cameras": [{"id": "a", "url": "file:///x.mp4", "grid": "nowhere"}]})


def test_tree_deeper_than_five_levels(tmp_path: Path) -> None:
    deep = GOOD.replace(
        "- {id: g1, name: G1}",
        "- id: g1\n                name: G1\n                children:\n"
        "                  - id: p\n                    name: P\n                    children: [{id: x, name: X}]",
    )
    out = problems(tmp_path, deep)
    assert any("only 5 levels" in p for p in out), out


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub", *args], capture_output=True, text=True, timeout=60, cwd=REPO)


def test_check_config_cli(tmp_path: Path) -> None:
    ok = run_cli("check-config", str(write(tmp_path, GOOD)))
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("grid: g1", "grid: g9") + "  - id: cam1\n    url: x\n")
    out = run_cli("check-config", str(bad))
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert f"{bad}:20: cameras[0].grid: grid 'g9' does not exist" in lines
    assert any(line.startswith(f"{bad}:21: cameras[1].id: duplicate camera id") for line in lines), lines
    missing = run_cli("check-config", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr


def test_run_without_secret_is_refused(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "SKYHUB_SECRET"}
    p = write(tmp_path, GOOD)
    out = subprocess.run(
        [sys.executable, "-m", "hub", "run", "--config", str(p)], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 1
    assert str(p) in out.stderr and "SKYHUB_SECRET" in out.stderr


def test_run_refuses_a_short_secret_and_a_camera_password_the_environment_lacks(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("SKYHUB_SECRET", "CAM1_PASSWORD")}
    env["SKYHUB_SECRET"] = "short-secret-xyz"
    p = write(tmp_path, GOOD.replace("url: synthetic://street", "url: rtsp://admin:${CAM1_PASSWORD}@127.0.0.1/x"))
    out = subprocess.run(
        [sys.executable, "-m", "hub", "run", "--config", str(p)], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert any(line.startswith(f"{p}:") and "at least 32 characters" in line for line in lines), lines
    assert any(line.startswith(f"{p}:19:") and "CAM1_PASSWORD" in line for line in lines), lines
    assert "short-secret-xyz" not in out.stderr and "Traceback" not in out.stderr


def test_a_relative_ignore_mask_is_found_beside_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2
    import numpy as np

    folder = tmp_path / "site"
    folder.mkdir()
    cv2.imwrite(str(folder / "lobby-mask.png"), np.zeros((180, 320), np.uint8))
    cfg = folder / "hub.yaml"
    cfg.write_text(
        "cameras:\n  - id: lobby\n    url: synthetic://street\n    analysis: {ignore_mask: lobby-mask.png}\n"
    )
    monkeypatch.chdir(tmp_path)  # the hub started from elsewhere still finds the mask
    settings = load_settings(cfg)
    assert settings.cameras[0].analysis.ignore_mask == folder / "lobby-mask.png"


def test_a_bad_ignore_mask_is_reported_on_its_own_line(tmp_path: Path) -> None:
    text = GOOD + "    analysis:\n      fps: 5\n      ignore_mask: nope.png\n"
    out = problems(tmp_path, text)
    assert out == [
        f"{tmp_path / 'skyhub.yaml'}:23: cameras[0].analysis.ignore_mask: "
        f"Value error, ignore_mask {tmp_path / 'nope.png'}: no such file"
    ], out


def test_a_mask_drawn_on_a_4_3_snapshot_is_accepted_and_its_path_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cv2
    import numpy as np

    (tmp_path / "masks").mkdir()
    cv2.imwrite(str(tmp_path / "masks" / "gate.png"), np.zeros((480, 640), np.uint8))
    (tmp_path / "site").mkdir()
    cfg = tmp_path / "site" / "hub.yaml"
    cfg.write_text(
        "cameras:\n  - id: gate\n    url: synthetic://street\n    analysis: {ignore_mask: ../masks/gate.png}\n"
    )
    monkeypatch.chdir(tmp_path / "site")
    mask = load_settings(cfg, env={}).cameras[0].analysis.ignore_mask
    assert mask == tmp_path.resolve() / "masks" / "gate.png"


@pytest.mark.parametrize(
    ("rolls", "line"),
    [("preroll_s: 0\n    postroll_s: 0\n", 22), ("preroll_s: 100\n    postroll_s: 201\n", 22)],
)
def test_clip_rolls_that_make_every_clip_fail_are_refused(tmp_path: Path, rolls: str, line: int) -> None:
    out = problems(tmp_path, GOOD + "    " + rolls)
    assert len(out) == 1 and f"skyhub.yaml:{line}: cameras[0]." in out[0], out
    assert "an alert clip must last more than 0 and at most 300 s" in out[0]
    assert load_settings(write(tmp_path, GOOD + "    preroll_s: 0\n    postroll_s: 300\n"), env={}).cameras


def test_the_clip_limit_is_the_camera_buffers(tmp_path: Path) -> None:
    from streams.camera import MAX_CLIP_S
    from streams.config import CLIP_MAX_S

    assert CLIP_MAX_S == MAX_CLIP_S


def test_cooldowns_default_per_kind_and_can_be_overridden(tmp_path: Path) -> None:
    from alerts.config import AnalysisConfig

    shipped = AnalysisConfig()
    assert shipped.cooldown_for("motion") == shipped.cooldown_for("intrusion") == 1.5
    assert shipped.cooldown_for("tamper.covered") == shipped.cooldown_for("loitering") == 30.0
    one = AnalysisConfig(cooldown_s=10, cooldowns={"tamper.frozen": 600})
    assert one.cooldown_for("motion") == one.cooldown_for("crowd") == 10.0 and one.cooldown_for("tamper.frozen") == 600


def test_covered_threshold_may_not_leave_a_blind_band_below_motion(tmp_path: Path) -> None:
    text = GOOD + "    analysis:\n      tamper: {covered_std: 2}\n"
    out = problems(tmp_path, text)
    assert len(out) == 1 and "covered_std" in out[0] and "greater than or equal to 3" in out[0], out


DEGENERATE_ZONES = """\
    zones:
      - {id: room, kind: intrusion, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}
      - {id: flat, kind: intrusion, polygon: [[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]}
      - {id: dot, kind: line, polygon: [[0.3, 0.3], [0.3, 0.3]]}
"""

TOO_SMALL_ZONES = """\
    zones:
      - id: speck
        kind: loitering
        polygon: [[0.5, 0.5], [0.52, 0.5], [0.52, 0.52], [0.5, 0.52]]
      - {id: short, kind: line, polygon: [[0.5, 0.5], [0.502, 0.5]]}
"""
SPECK = [[0.5, 0.5], [0.52, 0.5], [0.52, 0.52], [0.5, 0.52]]


def test_degenerate_zones_are_reported_on_their_own_lines(tmp_path: Path) -> None:
    # Accepted before, they crashed the camera's analysis on every restart.
    out = problems(tmp_path, GOOD + DEGENERATE_ZONES)
    path = tmp_path / "skyhub.yaml"
    assert out == [
        f"{path}:23: cameras[0].zones[1]: Value error, zone flat: the polygon has (almost) no area: its points "
        "lie on one line, or its sides cross so its halves cancel (area 0 of the frame, at least 0.0001)",
        f"{path}:24: cameras[0].zones[2]: Value error, zone dot: the two points of a line zone coincide; "
        "it has no length",
    ], out


def test_zones_too_small_for_the_analysis_frame_are_reported_on_their_lines(tmp_path: Path) -> None:
    out = problems(tmp_path, GOOD + TOO_SMALL_ZONES)
    assert len(out) == 2, out
    assert out[0].startswith(f"{tmp_path / 'skyhub.yaml'}:24: cameras[0].zones[0].polygon: zone speck: covers 12 ")
    assert "fewer than the smallest moving region (28.8 px" in out[0]
    assert out[1].startswith(f"{tmp_path / 'skyhub.yaml'}:25: cameras[0].zones[1].polygon: zone short: ")
    assert "the same pixel of the 160x90 analysis frame" in out[1]
    # At a larger analysis frame the line has two pixels; the polygon is still below the minimum area.
    bigger = problems(tmp_path, GOOD + TOO_SMALL_ZONES + "    analysis: {width: 1280, height: 720}\n")
    assert [p.split(": ")[1] for p in bigger] == ["cameras[0].zones[0].polygon"], bigger
    # Dict construction refuses them too (the hub's other way in).
    with pytest.raises(ValidationError, match="zones\\[0\\]: zone speck: covers 12 pixels"):
        Settings.model_validate(
            {"cameras": [{"id": "a", "url": "x", "zones": [{"id": "speck", "kind": "loitering", "polygon": SPECK}]}]}
        )


def test_check_config_reports_degenerate_zones_with_their_lines(tmp_path: Path) -> None:
    bad = tmp_path / "zones.yaml"
    bad.write_text(GOOD + DEGENERATE_ZONES)
    out = run_cli("check-config", str(bad))
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert any(line.startswith(f"{bad}:23: cameras[0].zones[1]: ") and "zone flat" in line for line in lines), lines
    assert any(line.startswith(f"{bad}:24: cameras[0].zones[2]: ") and "zone dot" in line for line in lines), lines
    bad.write_text(GOOD + TOO_SMALL_ZONES)
    out = run_cli("check-config", str(bad))
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert any(line.startswith(f"{bad}:24: cameras[0].zones[0].polygon: zone speck") for line in lines), lines
    assert any(line.startswith(f"{bad}:25: cameras[0].zones[1].polygon: zone short") for line in lines), lines


def test_run_refuses_an_ice_address_this_host_cannot_send_from(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "SKYHUB_ICE_ADDRESSES"}
    env["SKYHUB_SECRET"] = "s" * 40
    # 192.0.2.0/24 is reserved for documentation: no interface here has it.
    p = write(tmp_path, GOOD + "server:\n  ice_addresses: [127.0.0.1, 192.0.2.7]\n")
    out = subprocess.run(
        [sys.executable, "-m", "hub", "run", "--config", str(p)], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert any("server.ice_addresses[1]" in line and "192.0.2.7" in line for line in lines), lines
    assert not any("127.0.0.1" in line for line in lines), lines


def test_every_problem_is_reported_at_once_schema_and_cross_checks_together(tmp_path: Path) -> None:
    # One run of check-config names everything: a value out of bounds, a key given twice, a secret
    # in the file, and the checks between sections (which need the rest of the tree) as well.
    text = (
        GOOD.replace("users:\n", "server:\n  port: -5\nauth:\n  secret: hunter2-hunter2-hunter2-hunter2-x\nusers:\n")
        .replace(
            "  - {username: admin, roles: [admin]}\n",
            "  - {username: admin, roles: [admin]}\n  - {username: admin, roles: [viewer]}\n",
        )
        .replace("    - {id: p1, name: P1, grids: [g1]}\n", "    - {id: p1, name: P1, grids: [nope]}\n")
        + "  - id: cam1\n    url: synthetic://plaza\n    grid: g9\n    grid: g1\n"
    )
    out = problems(tmp_path, text)
    name = str(tmp_path / "skyhub.yaml")
    assert f"{name}:2: server.port: Input should be greater than or equal to 0" in out, out
    assert any(p.startswith(f"{name}:4: auth.secret:") and "SKYHUB_SECRET" in p for p in out), out
    assert any(":29:" in p and "'grid' is given twice (first on line 28)" in p for p in out), out
    assert any("duplicate username 'admin'" in p for p in out), out
    assert any("duplicate camera id 'cam1'" in p for p in out), out
    assert any("directory.people[0].grids" in p and "'nope'" in p for p in out), out
    assert not any("hunter2" in p for p in out)  # never the secret's value


def test_a_value_whose_item_cannot_stand_hides_only_what_refers_to_it(tmp_path: Path) -> None:
    # A person without a name goes from the tree used for the checks between sections; the camera
    # placed on an unknown grid is still reported, and nothing is said about the person left out.
    text = GOOD.replace("    - {id: p1, name: P1, grids: [g1]}\n", "    - {id: p1, grids: [g1]}\n").replace(
        "    grid: g1\n", "    grid: g9\n"
    )
    out = problems(tmp_path, text)
    assert any("directory.people[0].name" in p and "Field required" in p for p in out), out
    assert any("cameras[0].grid: grid 'g9' does not exist" in p for p in out), out
    assert len(out) == 2, out


def test_logins_that_could_never_work_are_refused(tmp_path: Path) -> None:
    users = (
        "users:\n"
        "  - {username: admin, roles: [admin]}\n"
        "  - {username: public, roles: [worker], person: p1}\n"
        "  - {username: w2, roles: [viewer], password_hash: not-a-hash}\n"
        "  - {username: ghost, roles: [worker]}\n"
    )
    out = problems(tmp_path, GOOD.replace("users:\n  - {username: admin, roles: [admin]}\n", users))
    assert any(":3:" in p and "'public' is reserved" in p for p in out), out
    assert any(":4:" in p and "users[2].password_hash" in p and "not an argon2 hash" in p for p in out), out
    assert any(":5:" in p and "users[3].username" in p and "worker 'ghost' is no person" in p for p in out), out


def test_a_whip_devices_zones_are_checked_like_a_cameras(tmp_path: Path) -> None:
    device = """whip:
  devices:
    - id: bodycam-1
      token_env: BODYCAM_1_TOKEN
      analysis: {enabled: true}
      zones:
        - id: speck
          kind: intrusion
          polygon: [[0.5, 0.5], [0.52, 0.5], [0.52, 0.52], [0.5, 0.52]]
"""
    out = problems(tmp_path, GOOD + device)
    assert len(out) == 1, out
    assert ": whip.devices[0].zones[0].polygon: zone speck: covers 12 " in out[0]
    assert "fewer than the smallest moving region" in out[0]


def test_the_lease_margin_defaults_to_a_share_of_the_ttl_and_must_leave_two_renewals(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD), env={})
    assert s.storage.lease_margin_s() == 3.0 and s.storage.camera_lease_max_takes_per_round == 4
    short = GOOD + "storage:\n  camera_lease_ttl_s: 3\n  camera_lease_renew_s: 0.5\n"
    s = load_settings(write(tmp_path, short), env={})
    assert s.storage.lease_margin_s() == 0.9
    out = problems(tmp_path, GOOD + "storage:\n  camera_lease_margin_s: 5\n")
    assert len(out) == 1 and ":21: storage:" in out[0] and "two renewals" in out[0], out

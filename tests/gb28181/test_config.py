"""The gb28181 config section through `skyhub check-config`: ids, ranges, rules, passwords, with lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hub.configfile import load_settings, run_problems
from tests.conftest import REPO

CONFIG = """\
directory:
  root:
    id: d
    name: District
    children:
      - id: s1
        name: Street
        children:
          - id: c1
            name: Community
            children:
              - id: g1
                name: Grid
gb28181:
  enabled: true
  id: "35050200002000000001"
  domain: "3505020000"
  media_ports: [30000, 30100]
  devices:
    - id: "35050200001180000001"
    - id: "35050200001180000002"
      password: ${GB_NVR_2}
  placement:
    - {civil_code: "350502", grid: g1}
"""


def check(tmp: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp / "skyhub.yaml"
    path.write_text(text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "hub", "check-config", str(path)], capture_output=True, text=True, timeout=60, cwd=REPO
    )


def test_a_good_section_passes(tmp_path: Path) -> None:
    out = check(tmp_path, CONFIG)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(
    ("old", "new", "line", "says"),
    [
        ('id: "35050200001180000001"', 'id: "3505020000118"', 20, "[0-9]{20}"),
        ("${GB_NVR_2}", "hunter2", 22, "never in the file"),
        ("[30000, 30100]", "[30100, 30000]", 18, "ascending range"),
        ("grid: g1}", "grid: g9}", 24, "grid 'g9' does not exist"),
        ('domain: "3505020000"', 'domain: "3505020001"', 14, "must start with its domain"),
    ],
)
def test_bad_values_are_named_with_their_line(tmp_path: Path, old: str, new: str, line: int, says: str) -> None:
    out = check(tmp_path, CONFIG.replace(old, new))
    text = out.stdout + out.stderr
    assert out.returncode == 1
    assert f"skyhub.yaml:{line}: " in text and says in text, text
    assert "hunter2" not in text  # a password written in the file is not repeated


def test_run_names_the_password_variables_that_are_not_set(tmp_path: Path) -> None:
    path = tmp_path / "skyhub.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    settings = load_settings(path, env={})
    problems = [msg for loc, msg in run_problems(settings, {"GB_NVR_2": "x"}) if loc[0] == "gb28181"]
    assert problems == ["SKYHUB_GB_PASSWORD is not set: the devices that use it cannot register"]
    assert not [
        loc for loc, _ in run_problems(settings, {"GB_NVR_2": "x", "SKYHUB_GB_PASSWORD": "y"}) if loc[0] == "gb28181"
    ]

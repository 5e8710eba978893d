"""The pages' messages: Chinese and English name the same ids on every screen, and every id the
code asks for by name exists."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.conftest import REPO

LOCALES = REPO / "web" / "locales"
LANGUAGES = ("en", "zh")
PLURAL_FORMS = {"zero", "one", "two", "few", "many", "other"}


def flatten(prefix: str, tree: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    """Dotted ids as web/i18n.js makes them (a plural object is one message)."""
    for key, value in tree.items():
        mid = f"{prefix}.{key}"
        if isinstance(value, str):
            out[mid] = value
        elif isinstance(value, dict) and set(value) <= PLURAL_FORMS and "other" in value:
            out[mid] = value
        else:
            assert isinstance(value, dict), f"{mid}: a message is a text, a plural object or a group"
            flatten(mid, value, out)
    return out


def messages(lang: str) -> dict[str, dict[str, Any]]:
    files = (LOCALES / lang).glob("*.json")
    return {f.stem: flatten(f.stem, json.loads(f.read_text(encoding="utf-8")), {}) for f in files}


def test_every_screen_has_the_same_ids_in_chinese_and_english() -> None:
    en, zh = messages("en"), messages("zh")
    assert {"common", "login", "desk"} <= set(en)
    assert set(en) == set(zh), "the same screens in both languages"
    for screen in en:
        only_en = sorted(set(en[screen]) - set(zh[screen]))
        only_zh = sorted(set(zh[screen]) - set(en[screen]))
        assert not only_en and not only_zh, f"{screen}: only in en {only_en}, only in zh {only_zh}"
        for mid, text in en[screen].items():
            # The same {placeholders} in both, so neither language loses a figure.
            assert set(re.findall(r"\{(\w+)\}", str(text))) == set(re.findall(r"\{(\w+)\}", str(zh[screen][mid]))), mid


def test_every_message_the_code_names_exists() -> None:
    known = {mid for screen in messages("en").values() for mid in screen}
    named: dict[str, Path] = {}
    for f in (REPO / "web").rglob("*.js"):
        if "node_modules" in f.parts:
            continue
        for mid in re.findall(r"""\bt\(\s*["']([\w.]+)["']""", f.read_text(encoding="utf-8")):
            named[mid] = f
    assert len(named) > 10
    missing = {mid: str(f.relative_to(REPO)) for mid, f in named.items() if mid not in known}
    assert not missing, f"messages named in the code but in no locale file: {missing}"

"""Every module of the packages imports (mypy, told to ignore missing imports for third-party
stubs, would not notice a module path that no longer exists after a move)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import alerts
import hub
import streams

MODULES = sorted(
    info.name
    for package in (streams, alerts, hub)
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}.")
    if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_the_module_imports(name: str) -> None:
    importlib.import_module(name)

#!/usr/bin/env bash
# The whole test suite: setup, lint, format check, type checks (Python, then the pages' JS), tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
web/node_modules/.bin/tsc -p web
.venv/bin/pytest "$@"

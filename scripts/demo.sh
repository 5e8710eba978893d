#!/usr/bin/env bash
# Run the demo district on http://127.0.0.1:8080/ (prints the logins).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh demo
exec .venv/bin/skyhub demo "$@"

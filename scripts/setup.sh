#!/usr/bin/env bash
# Prepare this clone: a virtualenv with skyhub and its Python dependencies, the pages' npm modules
# (web/node_modules, from web/package-lock.json), and, for `test`, the Debian packages the tests use
# (installed when run as root).
# Usage: scripts/setup.sh demo|test      (idempotent; fast when nothing changed)
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-demo}"

# Camera stand-ins (GStreamer RTSP server, ffmpeg), a WHEP player of another make (GStreamer's
# webrtcbin, with its ICE plugin and the introspection data scripts/webrtcbin_peer.py uses), the
# browser for end-to-end tests and the fonts its screenshots of the Chinese pages need.
DEB_TEST_PACKAGES=(
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad
  gstreamer1.0-nice gir1.2-gst-plugins-bad-1.0 gir1.2-nice-0.1
  ffmpeg chromium fonts-noto-cjk
  sip-tester  # sipp: a SIP peer this project did not write, against the GB/T 28181 platform (tests/gb28181)
  libnss3-tools  # certutil: the worker app test trusts the hub's own CA in Chromium's store (tests/web)
  postgresql  # initdb, pg_ctl: a PostgreSQL server of the test's own, restarted mid-burst (tests/hub/test_store_restart.py)
)

if [[ "$mode" == "test" ]]; then
  missing=()
  for pkg in "${DEB_TEST_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]]; then
      echo "setup: installing Debian packages: ${missing[*]}"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "setup: missing Debian packages (run as root to install): ${missing[*]}" >&2
    fi
  fi
fi

# The tests also need PostgreSQL and Redis on loopback (machines of this kind run both). When
# neither answers and we are root, install and start them; a PostgreSQL installed here gets a
# password for its `postgres` role, kept in ~/.pgpass where the tests' driver finds it.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [[ "$mode" == "test" && $(id -u) == 0 ]]; then
  if ! listening 6379; then
    command -v redis-server >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
    echo "setup: starting Redis on 127.0.0.1:6379 (keeps nothing on disk)"
    redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes >/dev/null
  fi
  if ! listening 5432; then
    if ! command -v pg_lsclusters >/dev/null; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    echo "setup: starting PostgreSQL on 127.0.0.1:5432"
    read -r version cluster _ < <(pg_lsclusters --no-header | head -n1)
    pg_ctlcluster "$version" "$cluster" start || true
    if ! grep -qs '^127.0.0.1:5432:\*:postgres:' ~/.pgpass; then
      password="$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
      su postgres -c "psql -q -c \"ALTER ROLE postgres PASSWORD '$password'\"" >/dev/null
      echo "127.0.0.1:5432:*:postgres:$password" >> ~/.pgpass
      chmod 600 ~/.pgpass
    fi
  fi
fi

PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      PYTHON="$candidate"; break
    fi
  done
fi
[[ -n "$PYTHON" ]] || { echo "setup: Python 3.11 or newer is required" >&2; exit 1; }

if ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
  # Missing, or left half-made by a failed attempt (Debian's venv needs python3-venv).
  if ! "$PYTHON" -m ensurepip --version >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  echo "setup: creating .venv with $PYTHON"
  rm -rf .venv
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.skyhub-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
fi

# The pages' npm modules: `npm ci` from the lock file, skipped while web/node_modules matches it.
if ! command -v npm >/dev/null 2>&1; then
  if [[ $(id -u) == 0 ]]; then
    echo "setup: installing Node.js and npm from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  else
    echo "setup: npm is missing (run as root to install it, or install Node.js 18+ with npm)" >&2
    exit 1
  fi
fi
web_stamp="web/node_modules/.skyhub-installed"
web_want="$(sha256sum web/package-lock.json | cut -d' ' -f1)"
if [[ ! -f "$web_stamp" || "$(cat "$web_stamp")" != "$web_want" ]]; then
  echo "setup: installing the pages' npm modules into web/node_modules"
  (cd web && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$web_want" > "$web_stamp"
fi

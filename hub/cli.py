"""The ``skyhub`` command line."""

from __future__ import annotations

import argparse
import gc
import getpass
import logging
import os
import sys
from pathlib import Path
from typing import TextIO

from hub.access.auth import MIN_SECRET_CHARS
from hub.config import CameraConfig, Settings
from hub.configfile import ConfigError, load_settings

logger = logging.getLogger("hub")


def _setup_logging(level: str) -> None:
    from hub import logsafe

    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logsafe.install()


GC_THRESHOLDS = (20_000, 20, 100)
"""Young-generation size before a collection, and how many of each before the next older one."""


def settle_gc() -> None:
    """Keep collector pauses out of live latency (called once the hub has started).

    A started hub holds over 100,000 long-lived objects (modules, classes, routes, models).
    With CPython's defaults a full collection walks them all several times a second under
    load, 30–80 ms each on this 2-core machine, and those pauses were the whole tail of
    the live feed's latency. Freezing moves them out of every future collection, and a
    larger young generation makes collections rarer; reference counting still frees
    almost everything the hub allocates per request.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8
"""glibc's ``mallopt`` parameters (malloc.h)."""
MALLOC_ARENAS = 2
MMAP_THRESHOLD_BYTES = 128 * 1024


def settle_malloc() -> None:
    """Keep freed codec memory from piling up in glibc's heaps (called before any thread starts).

    Every call builds and frees codecs (an H.264 and an Opus encoder, a decoder per receiver, each
    decoding on a thread of its own). glibc gives each thread an arena (up to 8 per core) and raises
    its mmap threshold as large buffers come and go, so frame buffers land in the arenas, and
    what they free stays there, fragmented: measured over 40 call cycles, the memory in use stayed
    at 37 MiB while the resident size grew 0.43 MiB a cycle. Two arenas and a fixed 128 KiB
    threshold (large buffers from mmap, returned when freed) took that to 0.07 MiB a cycle after
    the first twenty, and 38 MiB less resident. ``MALLOC_ARENA_MAX`` or ``MALLOC_MMAP_THRESHOLD_``
    in the environment win; elsewhere than glibc this does nothing.
    """
    import ctypes
    import ctypes.util
    import os

    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return
    if "MALLOC_ARENA_MAX" not in os.environ:
        mallopt(M_ARENA_MAX, MALLOC_ARENAS)
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def with_local_https(settings: Settings, host: str) -> Settings:
    """``--https``: the settings with the hub's own CA-signed certificate (made once under the data
    directory, see :mod:`hub.edge.tls`); a ``server.tls`` in the config is kept as it is."""
    from urllib.parse import urlsplit

    from hub.config import TlsConfig
    from hub.edge import tls

    if settings.server.tls is not None:
        return settings
    hosts = [host, *settings.server.ice_addresses]
    if settings.server.public_url:
        hosts.append(urlsplit(settings.server.public_url).hostname or "")
    ca = tls.ensure(settings.data_dir, hosts)
    server = settings.server.model_copy(update={"tls": TlsConfig(cert=ca.cert, key=ca.key)})
    return settings.model_copy(update={"server": server})


def _print_https(settings: Settings, host: str, port: int) -> None:
    """Where phones find the page that says how to trust the hub's CA."""
    if settings.server.tls is None:
        return
    from hub.edge.tls import machine_names

    if host in ("127.0.0.1", "::1", "localhost"):
        print("HTTPS on this machine only: for phones, run with --host 0.0.0.0", flush=True)
        return
    _, addresses = machine_names([host])
    lan = [a for a in addresses if a not in ("127.0.0.1", "::1") and ":" not in a] or [host]
    print(f"HTTPS: phones trust the hub's CA once, from https://{lan[0]}:{port}/ca", flush=True)


def _serve(settings: object, secret: str, host: str, port: int) -> None:
    import uvicorn

    from hub.app import create_app
    from hub.edge.serving import uvicorn_options

    assert isinstance(settings, Settings)
    settle_malloc()
    app = create_app(settings, secret, on_started=settle_gc)
    config = uvicorn.Config(app, host=host, port=port, **uvicorn_options(settings))
    uvicorn.Server(config).run()


def cmd_run(args: argparse.Namespace) -> int:
    """Run the hub on a config file."""
    try:
        settings = load_settings(args.config, for_run=True)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    secret = settings.secret_value()
    assert secret is not None  # load_settings(for_run=True) refused the file otherwise
    if args.data:
        settings = settings.model_copy(update={"data_dir": Path(args.data)})
    host = args.host or settings.server.host
    port = args.port if args.port is not None else settings.server.port
    if args.https:
        settings = with_local_https(settings, host)
    _print_https(settings, host, port)
    _serve(settings, secret, host, port)
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    """Run several hub nodes on this machine, one process each, on the config's PostgreSQL and Redis."""
    from hub.cluster import run_cluster

    try:
        settings = load_settings(args.config, for_run=True)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    data = Path(args.data) if args.data else None
    return run_cluster(Path(args.config), settings, args.nodes, args.host, args.base_port, data, args.log_level)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo district with generated cameras (and the shared clips when present)."""
    from hub.demo import prepare_demo

    try:
        settings, secret, logins = prepare_demo(Path(args.data) if args.data else None)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if len(secret) < MIN_SECRET_CHARS:
        print(f"SKYHUB_SECRET must be at least {MIN_SECRET_CHARS} characters (or unset it)", file=sys.stderr)
        return 1
    host = args.host or settings.server.host
    port = args.port if args.port is not None else settings.server.port
    if args.https:
        settings = with_local_https(settings, host)
    from hub.gb28181 import demo as gb_demo

    settings = gb_demo.with_gb(settings, host, args.gb_port, logins[0][1])
    scheme = "https" if settings.server.tls is not None else "http"
    print(f"\nskyhub demo: {scheme}://{host}:{port}/", flush=True)
    print("logins (username / password):", flush=True)
    for user, password in logins:
        print(f"  {user:<12} {password}", flush=True)
    for line in gb_demo.describe(settings):
        print(line, flush=True)
    print(flush=True)
    _print_https(settings, host, port)
    simulator = gb_demo.start_simulator(settings, logins[0][1])
    try:
        _serve(settings, secret, host, port)
    finally:
        if simulator is not None:
            simulator.terminate()
            simulator.wait(5)
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a config file: every problem with its line, exit 1 on any."""
    try:
        settings = load_settings(args.path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{args.path}: {len(exc.problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{args.path}: ok ({len(settings.cameras)} cameras, {len(settings.users)} users)")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    """Run the camera analysis on a video file as fast as possible; one JSON line per alert event."""
    if args.camera and not args.config:
        print("skyhub analyze: --camera needs --config", file=sys.stderr)
        return 1
    return analyze_command(Path(args.video), Path(args.config) if args.config else None, args.camera, args.json)


def analyze_command(
    video: Path, config_path: Path | None, camera_id: str | None, as_json: bool, out: TextIO | None = None
) -> int:
    """``skyhub analyze``: the camera's zones and settings from a config file, then the analysis alone
    (:func:`alerts.offline.analyze_video`); the exit code."""
    from alerts.offline import analyze_video

    try:
        camera = _analysed_camera(config_path, camera_id) if config_path else None
    except (ConfigError, LookupError) as exc:
        print(f"skyhub analyze: {exc}", file=sys.stderr)
        return 1
    return analyze_video(video, camera, as_json, out)


def _analysed_camera(config_path: Path, camera_id: str | None) -> CameraConfig:
    """The camera of a config file whose zones and settings ``analyze`` uses (LookupError: which one?)."""
    settings = load_settings(config_path)
    if camera_id is not None:
        for cam in settings.cameras:
            if cam.id == camera_id:
                return cam
        known = ", ".join(c.id for c in settings.cameras) or "none"
        raise LookupError(f"{config_path}: no camera {camera_id!r} (cameras: {known})")
    if len(settings.cameras) == 1:
        return settings.cameras[0]
    known = ", ".join(c.id for c in settings.cameras) or "none"
    raise LookupError(f"{config_path}: say which camera's zones to use with --camera (cameras: {known})")


def cmd_hash_password(args: argparse.Namespace) -> int:
    """Print an argon2 hash for a user's ``password_hash``."""
    from argon2 import PasswordHasher

    password = sys.stdin.readline().rstrip("\n") if args.stdin else getpass.getpass("password: ")
    if not password:
        print("empty password refused", file=sys.stderr)
        return 1
    print(PasswordHasher().hash(password))
    return 0


HTTPS_HELP = (
    "serve HTTPS with a certificate from the hub's own CA, made once under the data directory "
    "(phones trust it from /ca); server.tls in the config takes precedence"
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--log-level", default=os.environ.get("SKYHUB_LOG_LEVEL", "info"), choices=["debug", "info", "warning", "error"]
    )
    p = argparse.ArgumentParser(prog="skyhub", description="Command-center hub for a city district.")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the hub", parents=[common])
    run.add_argument("--config", required=True)
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--data", help="data directory (default from config, ./data)")
    run.add_argument("--https", action="store_true", help=HTTPS_HELP)
    run.set_defaults(func=cmd_run)

    cluster = sub.add_parser(
        "cluster", help="run several hub nodes on this machine (PostgreSQL and Redis from the config)", parents=[common]
    )
    cluster.add_argument("--nodes", type=int, required=True, help="how many node processes")
    cluster.add_argument("--config", required=True)
    cluster.add_argument("--host", help="address every node binds (default from config)")
    cluster.add_argument(
        "--base-port", type=int, help="the first node's port; the others take the next ones (default from config)"
    )
    cluster.add_argument("--data", help="parent of the nodes' data directories DIR/node-1 ... (default from config)")
    cluster.set_defaults(func=cmd_cluster)

    demo = sub.add_parser("demo", help="run the demo district", parents=[common])
    demo.add_argument("--host")
    demo.add_argument("--port", type=int)
    demo.add_argument("--data", help="data directory (default ./data)")
    demo.add_argument("--https", action="store_true", help=HTTPS_HELP)
    demo.add_argument("--gb-port", type=int, default=5060, help="GB/T 28181 SIP port, UDP and TCP (default 5060)")
    demo.set_defaults(func=cmd_demo)

    check = sub.add_parser("check-config", help="validate a config file", parents=[common])
    check.add_argument("path")
    check.set_defaults(func=cmd_check_config)

    analyze = sub.add_parser("analyze", help="run the camera analysis on a video file", parents=[common])
    analyze.add_argument("video")
    analyze.add_argument("--config", help="config whose camera entry gives zones and thresholds")
    analyze.add_argument("--camera", help="camera id in that config")
    analyze.add_argument("--json", action="store_true", help="JSON lines only")
    analyze.set_defaults(func=cmd_analyze)

    hp = sub.add_parser("hash-password", help="hash a password for the config", parents=[common])
    hp.add_argument("--stdin", action="store_true", help="read the password from standard input")
    hp.set_defaults(func=cmd_hash_password)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skyhub`` script."""
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level)
    try:
        rc: int = args.func(args)
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it has already handled: no traceback
        return 130
    return rc


if __name__ == "__main__":
    sys.exit(main())

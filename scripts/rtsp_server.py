#!/usr/bin/python3
"""A stand-in RTSP camera server for tests and benchmarks (GStreamer's RTSP server).

Run with Debian's own interpreter, not the virtualenv (it needs python3-gi and
gir1.2-gst-rtsp-server-1.0)::

    /usr/bin/python3 scripts/rtsp_server.py --port 8554 \\
        --mount cam1=ball:1280x720@25 \\
        --mount sub=smpte:640x360@10,bitrate=400 \\
        --mount stalls=ball:320x240@10,stall_after=3 \\
        --mount hevc=ball:320x240@10,codec=h265

A mount spec is ``PATTERN:WxH@FPS`` (a ``videotestsrc`` pattern) followed by options:
``codec=h264|h265``, ``bitrate=KBPS``, ``gop=FRAMES`` (keyframe interval, default 2 s),
``stall_after=SECONDS`` (the
picture stops flowing after that long while the connection stays open) and ``shared=1`` (all
clients share one encoder, and any query on the mount, e.g. ``/main?cam=7``, reaches it: many
camera URLs for the price of one encoder; the server keeps a shared mount's pipeline prepared from
start to exit, see :func:`keep_prepared`). Like a live camera, no mount can seek (the ``Range`` of
a PLAY is ignored) and a new client starts on a fresh keyframe, see :func:`live_media`.
``--auth USER:PASSWORD`` makes every mount require those credentials (401 Unauthorized otherwise).
SIGUSR1 toggles the stall of every mount. Binds 127.0.0.1 only. Prints ``READY
rtsp://127.0.0.1:PORT`` once serving.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer, GstVideo  # noqa: E402

VALVES: list[Gst.Element] = []


def parse_mount(text: str) -> tuple[str, dict[str, str]]:
    """``name=pattern:WxH@FPS,key=value`` → (name, settings)."""
    name, _, spec = text.partition("=")
    head, *opts = spec.split(",")
    pattern, _, geometry = head.partition(":")
    size, _, fps = (geometry or "640x360@25").partition("@")
    width, _, height = size.partition("x")
    settings = {"pattern": pattern or "ball", "width": width, "height": height, "fps": fps or "25"}
    for opt in opts:
        key, _, value = opt.partition("=")
        settings[key.strip()] = value.strip()
    return name.strip("/"), settings


def launch_line(s: dict[str, str]) -> str:
    """The GStreamer pipeline of one mount."""
    fps = int(s["fps"])
    gop = int(s.get("gop", str(2 * fps)))
    kbps = int(s.get("bitrate", "1000"))
    src = (
        f"videotestsrc is-live=true pattern={s['pattern']} ! "
        f"video/x-raw,format=I420,width={s['width']},height={s['height']},framerate={fps}/1 ! "
        "valve name=valve drop=false ! "
    )
    if s.get("codec", "h264") == "h265":
        enc = (
            f"x265enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate={kbps} ! "
            "rtph265pay name=pay0 pt=96"
        )
    else:
        enc = (
            f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate={kbps} ! "
            "video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96"
        )
    return f"( {src}{enc} )"


class SharedFactory(GstRtspServer.RTSPMediaFactory):
    """A factory whose one media serves every path below its mount."""

    def do_gen_key(self, url: GstRtspServer.RTSPUrl) -> str:
        return "shared"


def make_factory(s: dict[str, str], role: str | None) -> GstRtspServer.RTSPMediaFactory:
    shared = s.get("shared") == "1"
    factory = SharedFactory() if shared else GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(s))
    factory.set_shared(shared)
    delay_ms = int(float(s["stall_after"]) * 1000) if "stall_after" in s else None

    def on_configure(_factory: object, media: GstRtspServer.RTSPMedia) -> None:
        live_media(media)
        valve = media.get_element().get_by_name("valve")
        VALVES.append(valve)
        if delay_ms is not None:
            GLib.timeout_add(delay_ms, lambda: valve.set_property("drop", True) and False)

    factory.connect("media-configure", on_configure)
    if role is not None:
        text = f"{role}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        factory.add_role_from_structure(Gst.Structure.from_string(text)[0])
    return factory


def keep_prepared(
    server: GstRtspServer.RTSPServer, factory: GstRtspServer.RTSPMediaFactory, url: str
) -> GstRtspServer.RTSPMedia:
    """Prepare a shared mount's media now and hold it prepared until the server exits.

    Without this the media is torn down when its last client leaves, and it stays in the factory's
    cache while it is being torn down: clients arriving in that window (a benchmark starting its
    next phase at once) are handed the dying media, their PLAY is answered but no packet ever
    comes. Holding one preparation of our own means the media is never torn down; with no client
    playing, the live pipeline idles. (So on a shared mount ``stall_after`` counts from server
    start, not from the first client.)
    """
    ok, parsed = GstRtsp.RTSPUrl.parse(url)
    if ok != GstRtsp.RTSPResult.OK:
        raise ValueError(f"bad mount URL {url}")
    media = factory.construct(parsed)
    thread = server.get_thread_pool().get_thread(GstRtspServer.RTSPThreadType.MEDIA, GstRtspServer.RTSPContext())
    if media is None or not media.prepare(thread):
        raise RuntimeError(f"cannot prepare {url}")
    return media


def live_media(media: GstRtspServer.RTSPMedia) -> None:
    """Make ``media`` behave as a live camera's: it cannot seek, and each new client's PLAY gets a
    keyframe at once.

    Clients (FFmpeg among them) send ``Range: npt=0.000-`` with PLAY, and GStreamer answers that
    with a flushing seek of the media's pipeline whenever the pipeline says it can seek
    (``videotestsrc`` does, live or not) and its position is not exactly 0. On a shared mount each
    new client so restarted the encoder and the timeline under the clients already playing. Worse,
    when a second client's PLAY came while the first one's switch to PLAYING was still pending (a
    few milliseconds; clients connecting right after the server started), its seek flushed the
    segment away, the first switch's async-done was taken for the seek's, and the reply's rates
    were read before a new segment had got through the encoder: libgstrtspserver 1.22 aborts on
    that (``gst_rtsp_media_get_rates: assertion failed``, SIGABRT), every client is cut off and
    nothing listens any more. So the payloader answers the pipeline's SEEKING query with "not
    seekable" (GStreamer then skips the seek), and the keyframe that the seek brought a new client
    is asked of the encoder instead (:func:`keyframe_on_play`).
    """
    pad = media.get_element().get_by_name("pay0").get_static_pad("src")

    def not_seekable(_pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        # Answered as it comes: a new SEEKING query says "not seekable" (and Python could not
        # write to it anyway: its wrapper holds a second reference, so the query is read-only).
        if info.get_query().type == Gst.QueryType.SEEKING:
            return Gst.PadProbeReturn.HANDLED
        return Gst.PadProbeReturn.OK

    pad.add_probe(Gst.PadProbeType.QUERY_UPSTREAM, not_seekable)


def keyframe_on_play(client: GstRtspServer.RTSPClient) -> None:
    """Once ``client`` plays, ask its media's encoder for a keyframe: a new client of a shared
    mount need not wait out the rest of a GOP for its first picture."""

    def on_play(_client: GstRtspServer.RTSPClient, ctx: GstRtspServer.RTSPContext) -> None:
        pay = ctx.media.get_element().get_by_name("pay0") if ctx.media is not None else None
        if pay is not None:
            event = GstVideo.video_event_new_upstream_force_key_unit(Gst.CLOCK_TIME_NONE, True, 0)
            pay.get_static_pad("src").send_event(event)

    client.connect("play-request", on_play)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--mount", action="append", default=[], help="NAME=PATTERN:WxH@FPS[,key=value...]")
    parser.add_argument("--auth", help="USER:PASSWORD required for every mount")
    args = parser.parse_args()
    Gst.init(None)
    mounts = [parse_mount(m) for m in args.mount] or [parse_mount("cam=ball:640x360@25")]
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    role = None
    if args.auth:
        role, _, password = args.auth.partition(":")
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", role)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(role, password), token)
        server.set_auth(auth)
    server.connect("client-connected", lambda _server, client: keyframe_on_play(client))
    points = server.get_mount_points()
    factories = {name: make_factory(s, role) for name, s in mounts}
    for name, factory in factories.items():
        points.add_factory(f"/{name}", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1
    held = [
        keep_prepared(server, factories[name], f"rtsp://127.0.0.1:{args.port}/{name}")
        for name, s in mounts
        if s.get("shared") == "1"
    ]
    loop = GLib.MainLoop()

    def toggle() -> bool:
        for valve in VALVES:
            valve.set_property("drop", not valve.get_property("drop"))
        return True

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR1, toggle)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, lambda: loop.quit() or False)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, lambda: loop.quit() or False)
    print(f"READY rtsp://127.0.0.1:{args.port} mounts={','.join(n for n, _ in mounts)}", flush=True)
    loop.run()
    del held
    return 0


if __name__ == "__main__":
    sys.exit(main())

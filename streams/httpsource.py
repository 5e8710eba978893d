"""HTTP cameras: MJPEG multipart streams and JPEG snapshot URLs.

The content type of the first answer decides: ``multipart/x-mixed-replace`` is read part by
part (one JPEG per part); ``image/jpeg`` is a snapshot URL polled every
``SourceOptions.snapshot_interval_s``; anything else is not a video stream.
"""

from __future__ import annotations

import base64
import http.client
import logging
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import av

from streams import urls
from streams.media import CodecInfo
from streams.packets import SourceError, SourceOptions, SourcePacket, check_host, describe_error

log = logging.getLogger(__name__)

MAX_PART_BYTES = 8 * 1024 * 1024
"""Largest JPEG accepted; a bigger part means the stream is not what it claims."""
MAX_HEADER_LINES = 32
JPEG_TRAILER_BYTES = 256
"""Padding some cameras put after a JPEG's end marker; the marker must lie within this tail."""


def looks_like_jpeg(data: bytes) -> bool:
    """Whether ``data`` is a whole JPEG: start marker first, end marker at the end (cheap check)."""
    return data[:2] == b"\xff\xd8" and b"\xff\xd9" in data[-JPEG_TRAILER_BYTES:]


class HttpSource:
    """An MJPEG or JPEG-snapshot camera reached over HTTP(S)."""

    def __init__(self, url: str, options: SourceOptions) -> None:
        self.url = url
        self._opts = options
        self._target = urls.host_port(url)
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            raise SourceError(f"invalid URL {urls.mask_url(url)}: the port is not a number") from None
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = {"User-Agent": "skyhub", "Accept": "multipart/x-mixed-replace, image/jpeg"}
        if parts.username is not None:
            cred = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(cred).decode()
        self._closed = threading.Event()
        self._conn: http.client.HTTPConnection | None = None
        check_host(url)
        self._decoder = av.CodecContext.create("mjpeg", "r")
        self._boundary: bytes | None = None
        self._boundary_seen = False
        resp = self._request()
        self._resp = resp
        try:
            self._first = self._read_first(resp)
            frames = self._decode_bytes(self._first)
        except Exception as exc:
            # A camera that answers and then stalls times out here: close the socket, and say so
            # in words (not as an internal error).
            self.close()
            raise SourceError(describe_error(exc, self.url, self._target)) from None
        if not frames:
            self.close()
            raise SourceError(f"{self._target} sent a picture that could not be decoded")
        f = frames[0]
        self.codec = CodecInfo(codec="mjpeg", width=f.width, height=f.height, pix_fmt=f.format.name)

    def _read_first(self, resp: http.client.HTTPResponse) -> bytes:
        """The first picture; the content type decides between multipart and a snapshot URL."""
        ctype = (resp.getheader("Content-Type") or "").lower()
        if ctype.startswith("multipart/"):
            self._boundary = self._parse_boundary(ctype)
            return self._next_part()
        if ctype.startswith("image/jpeg"):
            return self._read_body(resp)
        if ctype in ("", "application/octet-stream") and resp.peek(2)[:2] == b"--":
            # Some servers (ffmpeg's own) send multipart without saying so: take the boundary line.
            self._boundary = resp.readline(200).strip()
            self._boundary_seen = True
            return self._next_part()
        if ctype in ("", "application/octet-stream") and resp.peek(2)[:2] == b"\xff\xd8":
            return self._read_body(resp)
        raise SourceError(f"{self._target} is not a video stream (it sends {ctype or 'no content type'})")

    def _request(self) -> http.client.HTTPResponse:
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=self._opts.connect_timeout_s)
        self._conn = conn
        try:
            conn.request("GET", self._path, headers=self._headers)
            resp = conn.getresponse()
            if conn.sock is not None:
                conn.sock.settimeout(self._opts.read_timeout_s)
        except Exception as exc:
            conn.close()
            raise SourceError(describe_error(exc, self.url, self._target)) from None
        if resp.status == 401:
            conn.close()
            raise SourceError(f"authentication failed (401 Unauthorized) at {self._target}: check the credentials")
        if resp.status >= 400:
            conn.close()
            raise SourceError(f"{self._target} answered HTTP {resp.status} {resp.reason}")
        return resp

    @staticmethod
    def _parse_boundary(ctype: str) -> bytes:
        for item in ctype.split(";"):
            key, _, value = item.strip().partition("=")
            if key == "boundary" and value:
                b = value.strip('"')
                return (b if b.startswith("--") else "--" + b).encode()
        raise SourceError("multipart stream without a boundary")

    def _read_body(self, resp: http.client.HTTPResponse) -> bytes:
        data = resp.read(MAX_PART_BYTES + 1)
        if len(data) > MAX_PART_BYTES:
            raise SourceError(f"{self._target} sent a picture larger than {MAX_PART_BYTES} bytes")
        return data

    def _next_part(self) -> bytes:
        """The body of the next multipart part."""
        assert self._boundary is not None
        resp = self._resp
        if self._boundary_seen:  # consumed while reading the previous part
            self._boundary_seen = False
        else:
            for _ in range(MAX_HEADER_LINES):  # find the boundary line
                line = resp.readline(1024)
                if not line:
                    raise SourceError(f"the connection to {self._target} was closed")
                if line.startswith(self._boundary):
                    break
            else:
                raise SourceError(f"{self._target} does not send a multipart video stream")
        length = None
        for _ in range(MAX_HEADER_LINES):
            line = resp.readline(1024).strip()
            if not line:
                break
            key, _, value = line.decode("latin-1").partition(":")
            if key.strip().lower() == "content-length" and value.strip().isdigit():
                length = int(value)
        if length is not None:
            if length > MAX_PART_BYTES:
                raise SourceError(f"{self._target} sent a picture larger than {MAX_PART_BYTES} bytes")
            data = resp.read(length)
            if len(data) < length:
                raise SourceError(f"the connection to {self._target} was closed")
            return data
        chunks: list[bytes] = []  # no length: read up to the next boundary
        size = 0
        while True:
            line = resp.readline(65536)
            if not line:
                raise SourceError(f"the connection to {self._target} was closed")
            if line.startswith(self._boundary):
                self._boundary_seen = True
                return b"".join(chunks).removesuffix(b"\r\n")
            chunks.append(line)
            size += len(line)
            if size > MAX_PART_BYTES:
                raise SourceError(f"{self._target} sent a part larger than {MAX_PART_BYTES} bytes")

    def packets(self) -> Iterator[SourcePacket]:
        """One packet per JPEG, stamped with the receive time."""
        t0 = time.monotonic()
        data = self._first
        while not self._closed.is_set():
            now = time.monotonic() - t0
            yield SourcePacket(data, now, now, True, data, corrupt=not looks_like_jpeg(data))
            try:
                if self._boundary is not None:
                    data = self._next_part()
                else:
                    if self._closed.wait(self._opts.snapshot_interval_s):
                        return
                    self._close_conn()
                    data = self._read_body(self._request())
            except SourceError:
                raise
            except Exception as exc:
                if self._closed.is_set():
                    return
                raise SourceError(describe_error(exc, self.url, self._target)) from None

    def _decode_bytes(self, data: bytes) -> list[av.VideoFrame]:
        try:
            return list(self._decoder.decode(av.Packet(data)))
        except av.error.FFmpegError:
            return []

    def decode(self, packet: SourcePacket) -> list[av.VideoFrame]:
        """Decode one JPEG; raises ``av.error.FFmpegError`` for a broken one (the reader counts it)."""
        return list(self._decoder.decode(av.Packet(packet.data)))

    def payload(self, packet: SourcePacket) -> bytes:
        """The JPEG bytes."""
        return packet.data

    def _close_conn(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def interrupt(self) -> None:
        """Wake a blocked read by shutting the socket down; callable from any thread."""
        self._closed.set()
        conn = self._conn
        sock = conn.sock if conn is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        self._closed.set()
        self._close_conn()


def open_http(url: str, options: SourceOptions) -> HttpSource:
    """Open an HTTP camera (blocking); raises :class:`SourceError`."""
    log.debug("http source %s: opening", urls.mask_url(url))
    return HttpSource(url, options)

"""JPEG snapshots of a camera: from the newest decoded picture, or by decoding a keyframe.

Both functions block (decoding, colour conversion, JPEG encoding): run them in a thread.
"""

from __future__ import annotations

import threading
from typing import Any

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from streams.media import NoPicture, Packet, SnapshotError

__all__ = ["JPEG_QUALITY", "NoPicture", "SnapshotError", "encode_jpeg", "keyframe_to_jpeg"]

JPEG_QUALITY = 85


_converters = threading.local()


def converted(frame: av.VideoFrame, **how: Any) -> av.VideoFrame:
    """``frame.reformat(**how)``, safe while other threads convert the same frame.

    A camera's newest picture is shared: the reader scales it for analysis while snapshot threads
    encode it. PyAV's ``frame.reformat`` / ``to_ndarray(format=...)`` keep one converter cached on
    the frame and run it without the GIL, with worker threads of its own: two threads converting
    one frame reconfigure that converter under each other, and the process deadlocks or crashes.
    Each thread here has its own converter, single-threaded (it already runs in a pool thread).
    """
    converter = getattr(_converters, "converter", None)
    if converter is None:
        converter = _converters.converter = VideoReformatter()
    return converter.reformat(frame, threads=1, **how)


def scaled_size(frame: av.VideoFrame, width: int | None) -> tuple[int, int]:
    """The frame's size scaled down to ``width`` (aspect kept, even numbers); never scaled up."""
    if width is None or width >= frame.width:
        return frame.width, frame.height
    return max(2, width // 2 * 2), max(2, round(frame.height * width / frame.width / 2) * 2)


def bgr_array(frame: av.VideoFrame, width: int | None = None) -> np.ndarray:
    """``frame``'s pixels as a BGR array, scaled down to ``width`` in the same conversion (see
    :func:`converted` for why not ``to_ndarray(format=)``)."""
    w, h = scaled_size(frame, width)
    array: np.ndarray = converted(frame, format="bgr24", width=w, height=h).to_ndarray()
    return array


def encode_jpeg(frame: av.VideoFrame, quality: int = JPEG_QUALITY, width: int | None = None) -> bytes:
    """``frame`` as JPEG bytes, at most ``width`` pixels wide (a wall's small tile needs no more)."""
    image = bgr_array(frame, width)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise SnapshotError("JPEG encoding failed")
    return bytes(buf)


_decoders = threading.local()


def _decoder(codec: str) -> Any:
    """This thread's decoder of ``codec``, kept from snapshot to snapshot: opening one for each
    (its tables, its frame pool) cost a fifth of a snapshot (a wall asks for ten a second)."""
    by_codec: dict[str, Any] | None = getattr(_decoders, "by_codec", None)
    if by_codec is None:
        by_codec = _decoders.by_codec = {}
    ctx = by_codec.get(codec)
    if ctx is None:
        ctx = by_codec[codec] = av.CodecContext.create(codec, "r")
        ctx.thread_count = 1  # it already runs in a pool thread
    return ctx


def keyframe_to_jpeg(packets: list[Packet], width: int | None = None) -> bytes:
    """Decode the first keyframe in ``packets`` (a keyframe group) and encode it as JPEG (at most
    ``width`` pixels wide; an MJPEG camera's own JPEG is served as it is)."""
    key = next((p for p in packets if p.keyframe), None)
    if key is None:
        raise SnapshotError("no keyframe to decode")
    if key.codec.codec == "mjpeg":
        return key.data  # already a JPEG
    ctx = _decoder(key.codec.codec)
    frames: list[av.VideoFrame] = []
    try:
        frames.extend(ctx.decode(av.Packet(key.data)))
        if not frames:
            frames.extend(ctx.decode(None))  # drain: the decoder may hold the frame back
    except av.error.FFmpegError as exc:
        _decoders.by_codec.pop(key.codec.codec, None)  # not to be trusted with the next camera's
        raise SnapshotError(f"the keyframe could not be decoded: {exc}") from None
    # Ready for the next keyframe, of any camera: nothing held back, out of the drained state.
    ctx.flush_buffers()
    if not frames:
        raise SnapshotError("the keyframe gave no picture")
    return encode_jpeg(frames[0], width=width)

// @ts-check
// A camera live over WHEP: POST /whep/{camera} with an SDP offer (recvonly video, and audio when
// asked), the answer, then play; DELETE the session's Location on unmount. The offer goes without
// our candidates (the hub learns our address from our checks), made ahead of time when the page
// keeps offers ready (peer-pool.js). On such a page (the wall) a player first takes a connected
// session another player left, switched to its camera, and leaves its own there on unmount. A camera another hub node ingests is played from that
// node (`base`, the camera's owner_url) with the same token: a browser can neither keep
// Authorization across a cross-origin redirect nor read its Location.
// Errors are reported once per mount through onError ("startup" | "stalled" | "decode"); the
// caller (useCameraLiveMode) decides when to try again, by remounting with a new key. The startup
// time counts from the mount: an offer (or a switch) the hub never answers is given up too, not
// waited for with a black tile.
import { html } from "htm/preact";
import { useLayoutEffect, useRef } from "preact/hooks";
import { HttpError, request } from "../../api/client.js";
import { holdForLive } from "./live-first.js";
import { end, leaveSession, takeOffer, takeSession } from "./peer-pool.js";

/** @typedef {import("../../types/player").PlayerError} PlayerError */
/** @typedef {import("../../types/player").PlayerErrorKind} PlayerErrorKind */

/** No first frame within this long after the answer: "startup". */
export const STARTUP_TIMEOUT_MS = 15_000;
/** No new frame for this long once playing (or the connection lost): "stalled". */
export const STALL_TIMEOUT_MS = 8_000;
/** Frames received within this long count as arriving: a picture that stops while they do is "decode". */
const DECODE_TIMEOUT_MS = 6_000;
/** How long the connection may stay "disconnected" before it counts as lost. */
const DISCONNECTED_MS = 3_000;
const WATCH_EVERY_MS = 1_000;
/** After asking the hub to end the session, close the connection anyway after this long. */
const RELEASE_WAIT_MS = 2_000;

/**
 * Frames received and decoded so far on the incoming video.
 * @param {RTCPeerConnection} pc
 */
async function videoCounts(pc) {
  let received = 0;
  let decoded = 0;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") {
      received += s.framesReceived ?? 0;
      decoded += s.framesDecoded ?? 0;
    }
  });
  return { received, decoded };
}

/**
 * @typedef {object} WhepPlayerProps
 * @property {string} camera Camera id (or "@user", a call member's video).
 * @property {string} [base] Base URL of the hub node that ingests it ("" for this one).
 * @property {string} label Accessible name of the video.
 * @property {boolean} [audio] Also receive audio (offered recvonly; plays when the hub sends it).
 * @property {boolean} [muted] Start muted (true: autoplay needs it).
 * @property {(error: PlayerError) => void} onError Called once when the player gives up.
 * @property {() => void} [onPlaying] Called when the first frame shows.
 * @property {string} [class] CSS class of the video.
 */

/** @param {WhepPlayerProps} props */
export function WhepPlayer({ camera, base = "", label, audio = false, muted = true, onError, onPlaying, class: cls }) {
  const video = useRef(/** @type {HTMLVideoElement | null} */ (null));
  const callbacks = useRef({ onError, onPlaying });
  callbacks.current = { onError, onPlaying };

  // A layout effect: the offer is on its way before the browser paints the new tiles.
  useLayoutEffect(() => {
    const el = video.current;
    if (!el) return undefined;
    /** @type {RTCPeerConnection | null} */
    let pc = null;
    /** @type {string | null} */
    let location = null;
    let closed = false;
    let playing = false;
    let failed = false;
    /** Cancels the offer or switch still on its way when the player gives up (a player that
     * goes before its answer still waits for it, to end the session it made). */
    const asking = new AbortController();
    // The page's snapshot requests wait until this player plays (live-first.js).
    const started = holdForLive();

    /**
     * @param {PlayerErrorKind} kind
     * @param {string} message
     * @param {{status?: number, retryAfterS?: number | null}} [extra]
     */
    const fail = (kind, message, extra = {}) => {
      if (closed || failed) return;
      failed = true;
      started();
      clearInterval(watch);
      asking.abort();
      callbacks.current.onError({ kind, message, ...extra });
    };
    const onPlay = () => {
      if (playing || closed) return;
      playing = true;
      started();
      callbacks.current.onPlaying?.();
    };
    const onVideoError = () => fail("decode", el.error?.message || "the browser cannot decode this video");
    el.addEventListener("playing", onPlay);
    el.addEventListener("error", onVideoError);
    const stream = new MediaStream();

    // Watch the connection and the frame counters: lost, stalled, or arriving but not decoding.
    const since = performance.now();
    let lastProgress = since;
    let lastReceivedAt = since;
    let disconnectedSince = 0;
    let counts = { received: 0, decoded: 0 };
    /** What a taken connection had decoded before this player (its own count starts there). */
    let before = 0;
    /** @param {RTCPeerConnection | null} pc Null until the hub has answered. */
    const check = async (pc) => {
      if (closed || failed) return;
      const now = performance.now();
      if (!pc) {
        if (now - since > STARTUP_TIMEOUT_MS) fail("startup", "the hub did not answer");
        return;
      }
      const state = pc.connectionState;
      if (state === "failed" || state === "closed") return fail("stalled", `connection ${state}`);
      if (state === "disconnected") {
        disconnectedSince ||= now;
        if (now - disconnectedSince > DISCONNECTED_MS) return fail("stalled", "connection lost");
      } else disconnectedSince = 0;
      const c = await videoCounts(pc);
      if (c.received > counts.received) lastReceivedAt = now;
      if (c.decoded > counts.decoded) lastProgress = now;
      counts = c;
      // Frames arriving without being decoded is a decoding problem; nothing arriving is not.
      const arriving = now - lastReceivedAt < DECODE_TIMEOUT_MS && c.received > 0;
      if (c.decoded === before) {
        if (now - since > STARTUP_TIMEOUT_MS) return fail(arriving ? "decode" : "startup", "no picture");
      } else if (now - lastProgress > STALL_TIMEOUT_MS) {
        return fail(arriving ? "decode" : "stalled", "the picture stopped");
      }
      return undefined;
    };

    /** @type {ReturnType<typeof setInterval> | undefined} */
    let watch = setInterval(() => check(pc), WATCH_EVERY_MS);

    (async () => {
      try {
        // A connected session another player left (the wall's layout switch), switched to ours.
        const taken = audio || base ? null : await takeSession(camera, asking.signal);
        if (taken) {
          const own = taken.pc;
          counts = await videoCounts(own);
          before = counts.decoded;
          // Gone meanwhile: its release found no connection to end, so end this one here.
          if (closed || failed) return end({ ...taken, busy: Promise.resolve() });
          pc = own;
          location = taken.location;
          stream.addTrack(taken.track);
          el.srcObject = stream;
          return undefined;
        }
        // The offer made ahead of time when the page keeps some ready (peer-pool.js), else now.
        const own = await takeOffer({ audio });
        if (closed || failed) {
          own.close();
          return;
        }
        pc = own;
        own.ontrack = (e) => {
          stream.addTrack(e.track);
          if (el.srcObject !== stream) el.srcObject = stream;
        };
        // Ahead of the page's other requests in the browser's queue for a connection to the hub.
        const r = await request(`/whep/${encodeURIComponent(camera)}`, {
          method: "POST",
          body: own.localDescription?.sdp ?? "",
          contentType: "application/sdp",
          base,
          priority: "high",
          signal: asking.signal,
        });
        const where = r.headers.get("Location");
        // The session lives on the node that answered: DELETE it there.
        if (where) location = new URL(where, base || window.location.href).href;
        const answer = await r.text();
        if (closed || failed) return release();
        await own.setRemoteDescription({ type: "answer", sdp: answer });
      } catch (err) {
        if (asking.signal.aborted) {
          pc?.close(); // given up before the answer: the hub ends a session that never connects
          return undefined;
        }
        if (err instanceof HttpError) fail("startup", err.detail, { status: err.status, retryAfterS: err.retryAfterS });
        else fail("startup", err instanceof Error ? err.message : String(err));
      }
      return undefined;
    })();

    // DELETE first, then close: closed the other way round, the hub may notice the connection
    // end and drop the session before the DELETE arrives (a needless 404).
    function release() {
      const own = pc;
      if (!own) return;
      if (!location) {
        own.close();
        return;
      }
      const where = location;
      location = null;
      // A page that keeps sessions (the wall) gives it to its next player instead.
      if (!failed && !base && !audio && leaveSession(own, where)) return;
      const close = () => own.close();
      setTimeout(close, RELEASE_WAIT_MS);
      request(where, { method: "DELETE", keepalive: true }).catch(() => {}).finally(close);
    }

    return () => {
      closed = true;
      started();
      clearInterval(watch);
      el.removeEventListener("playing", onPlay);
      el.removeEventListener("error", onVideoError);
      el.srcObject = null;
      release();
    };
  }, [camera, base, audio]);

  return html`<video
    ref=${video}
    class=${cls}
    autoplay
    playsinline
    muted=${muted}
    aria-label=${label}
    data-camera=${camera}
  ></video>`;
}

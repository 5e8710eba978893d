// @ts-check
// A camera as a picture refreshed every few seconds: GET /api/cameras/{id}/snapshot.jpg through the
// client (with the token), shown as a blob URL; the previous blob URL is revoked once the new
// picture is shown. For cameras whose video browsers cannot play (H.265, MJPEG).
// Errors are reported once per mount through onError: "startup" (no first picture), "stalled"
// (pictures stopped coming), "decode" (a picture the browser cannot show).
import { html } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { HttpError, blob } from "../../api/client.js";
import { afterLiveStarts } from "./live-first.js";

/** @typedef {import("../../types/player").PlayerError} PlayerError */
/** @typedef {import("../../types/player").PlayerErrorKind} PlayerErrorKind */

export const SNAPSHOT_INTERVAL_S = 2;
/** This many failed refreshes in a row after a first picture: "stalled". */
const STALLED_AFTER_FAILURES = 3;

/**
 * @typedef {object} SnapshotPlayerProps
 * @property {string} camera Camera id.
 * @property {string} label Accessible name (the picture's alt text).
 * @property {number} [intervalS] Seconds between pictures.
 * @property {number} [width] At most this many pixels wide (the hub scales the picture down):
 *   a small tile needs no full-size picture, and the hub's work shrinks with it.
 * @property {(error: PlayerError) => void} onError Called once when the player gives up.
 * @property {() => void} [onPlaying] Called when the first picture shows.
 * @property {string} [class] CSS class of the image.
 */

/** @param {SnapshotPlayerProps} props */
export function SnapshotPlayer({ camera, label, intervalS = SNAPSHOT_INTERVAL_S, width, onError, onPlaying, class: cls }) {
  const [src, setSrc] = useState(/** @type {string | null} */ (null));
  const callbacks = useRef({ onError, onPlaying });
  callbacks.current = { onError, onPlaying };
  /** Blob URLs made and not yet revoked, the newest last. */
  const urls = useRef(/** @type {string[]} */ ([]));
  const state = useRef({ failed: false, shown: false });

  useEffect(() => {
    let stopped = false;
    let failures = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    const controller = new AbortController();
    state.current = { failed: false, shown: false };

    /**
     * @param {PlayerErrorKind} kind
     * @param {string} message
     * @param {{status?: number, retryAfterS?: number | null}} [extra]
     */
    const fail = (kind, message, extra = {}) => {
      if (stopped || state.current.failed) return;
      state.current.failed = true;
      callbacks.current.onError({ kind, message, ...extra });
    };

    const load = async () => {
      try {
        // Live video first: after the live players starting (live-first.js), and behind anything in the
        // browser's queue for a connection to the hub.
        await afterLiveStarts();
        if (stopped) return;
        const query = width ? `?width=${Math.ceil(width)}` : "";
        const picture = await blob(`/api/cameras/${encodeURIComponent(camera)}/snapshot.jpg${query}`, {
          signal: controller.signal,
          priority: "low",
        });
        if (stopped) return;
        failures = 0;
        const u = URL.createObjectURL(picture);
        urls.current.push(u);
        setSrc(u);
      } catch (err) {
        if (stopped) return;
        failures += 1;
        const extra = err instanceof HttpError ? { status: err.status, retryAfterS: err.retryAfterS } : {};
        const message = err instanceof Error ? err.message : String(err);
        if (!state.current.shown) return fail("startup", message, extra);
        if (failures >= STALLED_AFTER_FAILURES) return fail("stalled", message, extra);
      }
      if (!stopped && !state.current.failed) timer = setTimeout(load, intervalS * 1000);
      return undefined;
    };
    void load();

    return () => {
      stopped = true;
      clearTimeout(timer);
      controller.abort();
      for (const u of urls.current.splice(0)) URL.revokeObjectURL(u);
    };
  }, [camera, intervalS, width]);

  const shown = () => {
    // The new picture is on screen: the older blob URLs are not needed any more.
    const list = urls.current;
    while (list.length > 1) URL.revokeObjectURL(/** @type {string} */ (list.shift()));
    if (!state.current.shown) {
      state.current.shown = true;
      callbacks.current.onPlaying?.();
    }
  };
  const broken = () => {
    if (state.current.failed) return;
    state.current.failed = true;
    callbacks.current.onError({ kind: "decode", message: "the picture cannot be shown" });
  };

  return src
    ? html`<img class=${cls} src=${src} alt=${label} data-camera=${camera} onLoad=${shown} onError=${broken} />`
    : html`<div class=${`${cls ?? ""} player-waiting`} role="img" aria-label=${label} data-camera=${camera}></div>`;
}

// @ts-check
// Press-and-hold PTZ for one camera (POST /api/cameras/{id}/ptz). Pressing a control sends its
// move; while it is held the move is renewed at a third of the hub's stop time (`stops_after_s`: the
// hub stops a move by itself after gb28181.ptz_timeout_s unless renewed, so a closed tab, a lost
// network or a crashed page never leaves a camera turning); releasing it sends the stop. The
// requests go one after the other, so a stop never overtakes the move it ends, and a renewal is
// skipped while one is still on its way. The page losing focus or being hidden counts as a release.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, HttpError } from "../api/client.js";

/** @typedef {{pan?: number, tilt?: number, zoom?: number}} PtzMove */

/** Renewal period before the hub has said its stop time. */
const RENEW_FIRST_MS = 300;
/** Never renew faster than this, whatever the hub's stop time. */
const RENEW_MIN_MS = 150;
/** A screen reader's click (no press and release to follow): a move this long. */
export const NUDGE_MS = 500;

/**
 * @typedef {object} PtzState
 * @property {string | null} moving The control held now ("left", "zoomIn"…), or null.
 * @property {string | null} error What the hub said when a command failed, until the next one works.
 * @property {{action: "goto" | "set", preset: number} | null} done The last preset command the hub took.
 * @property {(name: string, move: PtzMove) => void} press Start (and keep renewing) a move.
 * @property {() => void} release Stop the move being held (nothing when none is).
 * @property {(name: string, move: PtzMove) => void} nudge A short move: press, then release after NUDGE_MS.
 * @property {(preset: number, action: "goto" | "set") => void} preset Go to or store a preset.
 */

/**
 * @param {string} cameraId
 * @returns {PtzState}
 */
export function usePtz(cameraId) {
  const [moving, setMoving] = useState(/** @type {string | null} */ (null));
  const [error, setError] = useState(/** @type {string | null} */ (null));
  const [done, setDone] = useState(/** @type {PtzState["done"]} */ (null));
  const held = useRef(/** @type {{name: string, move: PtzMove} | null} */ (null));
  const timer = useRef(/** @type {ReturnType<typeof setTimeout> | undefined} */ (undefined));
  const chain = useRef(/** @type {Promise<unknown>} */ (Promise.resolve()));
  const pending = useRef(0);
  const renewMs = useRef(RENEW_FIRST_MS);

  /** @param {unknown} body */
  const send = (body) => {
    pending.current += 1;
    const path = `/api/cameras/${encodeURIComponent(cameraId)}/ptz`;
    const sent = chain.current.then(() => api(path, { method: "POST", body, priority: "high" }));
    const settled = sent.then(
      (r) => {
        setError(null);
        return r;
      },
      (e) => {
        setError(e instanceof HttpError ? e.detail || `HTTP ${e.status}` : String(e));
        return null;
      },
    );
    chain.current = settled.finally(() => {
      pending.current -= 1;
    });
    return settled;
  };

  const renew = () => {
    const h = held.current;
    if (!h) return;
    if (pending.current === 0) void send(h.move);
    timer.current = setTimeout(renew, renewMs.current);
  };

  /** @type {PtzState["release"]} */
  const release = () => {
    clearTimeout(timer.current);
    if (!held.current) return;
    held.current = null;
    setMoving(null);
    void send({ pan: 0, tilt: 0, zoom: 0 });
  };

  /** @type {PtzState["press"]} */
  const press = (name, move) => {
    if (held.current?.name === name) return;
    clearTimeout(timer.current);
    held.current = { name, move };
    setMoving(name);
    setDone(null);
    void send(move).then((r) => {
      const stopsAfterS = /** @type {{stops_after_s?: number | null} | null} */ (r)?.stops_after_s;
      if (typeof stopsAfterS === "number") renewMs.current = Math.max(RENEW_MIN_MS, (stopsAfterS * 1000) / 3);
    });
    timer.current = setTimeout(renew, renewMs.current);
  };

  /** @type {PtzState["nudge"]} */
  const nudge = (name, move) => {
    press(name, move);
    clearTimeout(timer.current);
    timer.current = setTimeout(release, NUDGE_MS);
  };

  /** @type {PtzState["preset"]} */
  const preset = (number, action) => {
    release();
    void send({ preset: number, action }).then((r) => r && setDone({ action, preset: number }));
  };

  // Leaving the page, hiding it or unmounting the controls is a release.
  const latestRelease = useRef(release);
  latestRelease.current = release;
  useEffect(() => {
    const onHide = () => latestRelease.current();
    const onVisibility = () => document.visibilityState === "hidden" && onHide();
    window.addEventListener("blur", onHide);
    document.addEventListener("visibilitychange", onVisibility);
    return () => {
      window.removeEventListener("blur", onHide);
      document.removeEventListener("visibilitychange", onVisibility);
      onHide();
    };
  }, [cameraId]);

  return { moving, error, done, press, release, nudge, preset };
}

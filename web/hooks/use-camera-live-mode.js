// @ts-check
// Which transport shows a camera live, and when to try again. WHEP when browsers can play the
// camera's video (H.264 4:2:0), from the node that ingests it (owner_url) when that is another hub
// node; a refreshed snapshot when they cannot (H.265, MJPEG: `browser_playable: false` in
// GET /api/cameras, or a 415 / decode error from the WHEP player); nothing while the camera is not
// online. A camera read only while watched (`on_demand`) that is on `standby` gets a WHEP player
// all the same: the offer wakes it (the hub invites the channel), and the same player plays on
// through "starting" to "online". After a player error it waits (the hub's Retry-After, else a
// backoff doubling up to RETRY_MAX_MS) and remounts the player under a new key.
import { useEffect, useRef, useState } from "preact/hooks";

/** @typedef {import("../types/api").Camera} Camera */
/** @typedef {import("../types/player").PlayerError} PlayerError */
/** @typedef {import("../types/player").LiveMode} LiveMode */

export const RETRY_FIRST_MS = 1_000;
export const RETRY_MAX_MS = 30_000;

/**
 * @typedef {object} CameraLiveMode
 * @property {LiveMode} mode What to mount now ("none" while waiting to retry or the camera is down).
 * @property {string} key Mount the player under this key: a new key is a fresh player.
 * @property {string} base Where the WHEP offer goes: "" for this node, else the owner's URL.
 * @property {PlayerError | null} error The last error, until a player plays again.
 * @property {number | null} retryAt When the next try is due (Date.now() ms), while waiting.
 * @property {(error: PlayerError) => void} onError Give this to the player.
 * @property {() => void} onPlaying Give this to the player.
 */

/**
 * The transport to show `camera` with, and the retry state. Pass the camera as GET /api/cameras
 * gives it; a change of its state, owner or codec remounts the player.
 * @param {Camera} camera
 * @returns {CameraLiveMode}
 */
export function useCameraLiveMode(camera) {
  const [attempt, setAttempt] = useState(0);
  const [retryAt, setRetryAt] = useState(/** @type {number | null} */ (null));
  const [error, setError] = useState(/** @type {PlayerError | null} */ (null));
  /** The codec for which WHEP failed in a way a snapshot can avoid (415, decode). */
  const [noWhepFor, setNoWhepFor] = useState(/** @type {string | null} */ (null));
  const failures = useRef(0);
  const timer = useRef(/** @type {ReturnType<typeof setTimeout> | undefined} */ (undefined));
  useEffect(() => () => clearTimeout(timer.current), []);

  const remote = camera.state === "remote";
  const base = remote && camera.owner_url ? camera.owner_url : "";
  // H.265 that the hub turns into H.264 (the camera's sub-stream or a transcode) plays over WHEP;
  // when the hub's transcodes are all taken (`browser_video: "pictures"`), snapshots, until one frees.
  const viaH264 = camera.browser_video === "substream" || camera.browser_video === "transcoded";
  const codecKey = `${camera.codec ?? "?"}|${camera.browser_video ?? "?"}`;
  const whepRefused = noWhepFor === codecKey;
  /** @type {LiveMode} */
  let mode = "none";
  // Waking an on-demand camera: one player from standby to online, not a new one at each step.
  const waking = camera.on_demand === true && (camera.state === "standby" || camera.state === "starting");
  if (remote) mode = base && !whepRefused ? "whep" : "none"; // another node's snapshot is not reachable from here
  else if (waking) mode = whepRefused || camera.browser_video === "pictures" ? "none" : "whep"; // no snapshot of a camera nobody reads
  else if (camera.state === "online") mode = (camera.browser_playable === false && !viaH264) || whepRefused ? "snapshot" : "whep";
  if (retryAt !== null) mode = "none";

  /** @param {PlayerError} e */
  const onError = (e) => {
    setError(e);
    if (mode === "whep" && (e.status === 415 || e.kind === "decode")) {
      setNoWhepFor(codecKey); // the browser cannot play it: show snapshots instead, at once
      setAttempt((a) => a + 1);
      return;
    }
    const backoff = Math.min(RETRY_FIRST_MS * 2 ** failures.current, RETRY_MAX_MS);
    const wait = e.retryAfterS != null ? Math.min(e.retryAfterS * 1000, RETRY_MAX_MS) : backoff;
    failures.current += 1;
    clearTimeout(timer.current);
    setRetryAt(Date.now() + wait);
    timer.current = setTimeout(() => {
      setRetryAt(null);
      setAttempt((a) => a + 1);
    }, wait);
  };
  const onPlaying = () => {
    failures.current = 0;
    setError(null);
  };

  return {
    mode,
    key: `${camera.id}|${mode}|${base}|${waking || camera.state === "online" ? "live" : camera.state}|${attempt}`,
    base,
    error,
    retryAt,
    onError,
    onPlaying,
  };
}

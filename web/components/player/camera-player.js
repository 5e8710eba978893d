// @ts-check
// A camera live, whatever the transport: useCameraLiveMode picks WHEP or snapshots and remounts
// the player after an error; off screen or in a hidden page no player runs at all. `still` shows
// snapshots only, even of a camera browsers could play live (the wall's overview). The state
// (transport, last error, next retry) is shown by `status` when given (the wall's tiles say more),
// else as one line under the picture.
import { html } from "htm/preact";
import { useRef } from "preact/hooks";
import { useCameraLiveMode } from "../../hooks/use-camera-live-mode.js";
import { useVisible } from "../../hooks/use-visible.js";
import { t } from "../../i18n.js";
import { SnapshotPlayer } from "./snapshot-player.js";
import { WhepPlayer } from "./whep-player.js";

/** @typedef {import("../../types/api").Camera} Camera */
/** @typedef {import("../../types/player").PlayerError} PlayerError */
/** @typedef {import("../../types/player").LiveMode} LiveMode */
/** @typedef {import("preact").ComponentChildren} ComponentChildren */

/**
 * @typedef {object} PlayerState
 * @property {LiveMode} mode What is mounted ("none": nothing, waiting to retry or camera down).
 * @property {PlayerError | null} error The last error, until a player plays again.
 * @property {number | null} retryAt When the next try is due (Date.now() ms), while waiting.
 */

/**
 * @typedef {object} CameraPlayerProps
 * @property {Camera} camera
 * @property {string} [class] CSS class of the box, beside `camera-player`.
 * @property {string} [mediaClass] CSS class of the video or picture ("player-media").
 * @property {string} [blankClass] CSS class added to `mediaClass` while there is no player
 *   ("player-placeholder").
 * @property {boolean} [still] Snapshots only.
 * @property {number} [stillIntervalS] Seconds between pictures of a `still` player.
 * @property {number} [stillWidth] At most this many pixels wide, the pictures of a `still` player.
 * @property {(state: PlayerState) => ComponentChildren} [status] Shows the state instead of the
 *   default line.
 */

/** @param {CameraPlayerProps} props */
export function CameraPlayer({ camera, class: cls, mediaClass = "player-media", blankClass = "player-placeholder", still = false, stillIntervalS, stillWidth, status }) {
  const box = useRef(/** @type {HTMLDivElement | null} */ (null));
  const visible = useVisible(box);
  const live = useCameraLiveMode(camera);
  // A still player shows pictures even of a camera browsers could play live (of a camera another
  // hub node ingests, none: its pictures are not reachable from here; of one on standby, none:
  // pictures would keep it awake for nobody's live view).
  const asleep = camera.state === "remote" || camera.state === "standby" || camera.state === "starting";
  const mode = still && live.mode === "whep" ? (asleep ? "none" : "snapshot") : live.mode;
  const label = t("common.camera.label", { name: camera.name });
  let player = null;
  if (visible && mode === "whep") {
    player = html`<${WhepPlayer}
      key=${live.key}
      camera=${camera.id}
      base=${live.base}
      label=${label}
      onError=${live.onError}
      onPlaying=${live.onPlaying}
      class=${mediaClass}
    />`;
  } else if (visible && mode === "snapshot") {
    player = html`<${SnapshotPlayer}
      key=${`${live.key}|${still}`}
      camera=${camera.id}
      label=${label}
      intervalS=${still ? stillIntervalS : undefined}
      width=${still ? stillWidth : undefined}
      onError=${live.onError}
      onPlaying=${live.onPlaying}
      class=${mediaClass}
    />`;
  }
  /** @type {PlayerState} */
  const state = { mode, error: live.error, retryAt: live.retryAt };
  return html`<div
    ref=${box}
    class=${`camera-player ${cls ?? ""}`}
    data-camera=${camera.id}
    data-mode=${mode}
    data-error=${live.error?.kind}
  >
    ${player ?? html`<div class=${`${mediaClass} ${blankClass}`} role="img" aria-label=${label}></div>`}
    ${status ? status(state) : html`<${StatusLine} camera=${camera} state=${state} />`}
  </div>`;
}

/**
 * The default state line: the camera's state while nothing plays, or that the player retries.
 * @param {{camera: Camera, state: PlayerState}} props
 */
function StatusLine({ camera, state }) {
  if (state.mode !== "none") return null;
  const text =
    state.retryAt !== null
      ? t("common.camera.retrying")
      : t(`common.cameraState.${camera.state}`) + (camera.reason ? `: ${camera.reason}` : "");
  return html`<p class="player-status">${text}</p>`;
}

// @ts-check
// The picture of a wall tile: live over WHEP when the browser can play the camera (the camera's own
// packets), else snapshots refreshed every few seconds, never a black tile; `still` tiles (the
// overview past the live tiles) show snapshots only. useCameraLiveMode picks the transport and
// retries a failed player with a growing delay; the tile says so (TileStatus). Off screen or in a
// hidden page no player runs.
import { html } from "htm/preact";
import { useRef } from "preact/hooks";
import { SnapshotPlayer } from "../../components/player/snapshot-player.js";
import { WhepPlayer } from "../../components/player/whep-player.js";
import { useCameraLiveMode } from "../../hooks/use-camera-live-mode.js";
import { useVisible } from "../../hooks/use-visible.js";
import { t } from "../../i18n.js";
import { TileStatus } from "./tile-status.js";

/** @typedef {import("../../types/api").Camera} Camera */

/** Pixels an overview tile's picture needs at most (its tiles are about 130-300 px wide). */
const STILL_WIDTH_PX = 320;
/** Seconds between pictures of an overview tile (48 of them: a gentle load on the hub). */
export const STILL_INTERVAL_S = 5;

/**
 * @param {{camera: Camera, still?: boolean}} props
 */
export function TileMedia({ camera, still = false }) {
  const box = useRef(/** @type {HTMLDivElement | null} */ (null));
  const visible = useVisible(box);
  const live = useCameraLiveMode(camera);
  // An overview tile shows pictures even of a camera browsers could play live (of a camera another
  // hub node ingests, none: its pictures are not reachable from here).
  const mode = still && live.mode === "whep" ? (camera.state === "remote" ? "none" : "snapshot") : live.mode;
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
      class="tile-video"
    />`;
  } else if (visible && mode === "snapshot") {
    player = html`<${SnapshotPlayer}
      key=${`${live.key}|${still}`}
      camera=${camera.id}
      label=${label}
      intervalS=${still ? STILL_INTERVAL_S : undefined}
      width=${still ? STILL_WIDTH_PX * (window.devicePixelRatio || 1) : undefined}
      onError=${live.onError}
      onPlaying=${live.onPlaying}
      class="tile-video"
    />`;
  }
  return html`<div ref=${box} class="tile-media" data-mode=${mode} data-error=${live.error?.kind}>
    ${player ?? html`<div class="tile-video tile-blank" role="img" aria-label=${label}></div>`}
    <${TileStatus} camera=${camera} mode=${mode} still=${still} error=${live.error} retryAt=${live.retryAt} />
  </div>`;
}

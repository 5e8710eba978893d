// @ts-check
// The picture of a wall tile: a CameraPlayer (live over WHEP when the browser can play the camera,
// with the camera's own packets, else snapshots refreshed every few seconds, never a black tile);
// `still` tiles (the overview past the live tiles) show small snapshots only. The tile says what
// the player is doing in its own words (TileStatus): health, retries, snapshots instead of video.
import { html } from "htm/preact";
import { CameraPlayer } from "../../components/player/camera-player.js";
import { TileStatus } from "./tile-status.js";

/** @typedef {import("../../types/api").Camera} Camera */
/** @typedef {import("../../components/player/camera-player.js").PlayerState} PlayerState */

/** Pixels an overview tile's picture needs at most (its tiles are about 130-300 px wide). */
const STILL_WIDTH_PX = 320;
/** Seconds between pictures of an overview tile (48 of them: a gentle load on the hub). */
export const STILL_INTERVAL_S = 5;

/**
 * @param {{camera: Camera, still?: boolean}} props
 */
export function TileMedia({ camera, still = false }) {
  return html`<${CameraPlayer}
    camera=${camera}
    class="tile-media"
    mediaClass="tile-video"
    blankClass="tile-blank"
    still=${still}
    stillIntervalS=${STILL_INTERVAL_S}
    stillWidth=${STILL_WIDTH_PX * (window.devicePixelRatio || 1)}
    status=${(/** @type {PlayerState} */ s) =>
      html`<${TileStatus} camera=${camera} mode=${s.mode} still=${still} error=${s.error} retryAt=${s.retryAt} />`}
  />`;
}

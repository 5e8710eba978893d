// @ts-check
// A tile's health, in words: offline, stalled, starting or on another hub node, with the hub's
// reason and since when; a player that failed and waits to try again, with the time left; a camera
// shown as snapshots because the browser cannot play its codec (and, when the hub could transcode
// it but its transcodes are all taken, why); a camera played as the hub's H.264 of its H.265.
import { html } from "htm/preact";
import { useWallClock } from "../../hooks/use-wall-clock.js";
import { formatRelative, formatTime, t } from "../../i18n.js";

/** @typedef {import("../../types/api").Camera} Camera */
/** @typedef {import("../../types/player").PlayerError} PlayerError */
/** @typedef {import("../../types/player").LiveMode} LiveMode */

/**
 * @param {{camera: Camera, mode: LiveMode, still?: boolean, error: PlayerError | null, retryAt: number | null}} props
 *   `still`: an overview tile, where pictures are the rule (not worth a note).
 */
export function TileStatus({ camera, mode, still = false, error, retryAt }) {
  const now = useWallClock();
  const since = typeof camera.state_since === "number" ? camera.state_since * 1000 : null;
  const down = camera.state !== "online" && camera.state !== "remote";
  if (mode === "none" && retryAt !== null && !down) {
    const seconds = Math.max(1, Math.ceil((retryAt - now) / 1000));
    return html`<div class="tile-status tile-status-block" data-health="retrying" role="status">
      <p class="tile-health">${t("wall.health.retrying", { seconds })}</p>
      ${error && html`<p class="tile-reason">${t(`wall.error.${error.kind}`)}${error.status ? ` (${error.status})` : ""}</p>`}
    </div>`;
  }
  if (mode === "none" || down) {
    return html`<div class=${`tile-status ${mode === "none" ? "tile-status-block" : "tile-status-chip"}`} data-health=${camera.state}>
      <p class="tile-health">
        <span class="health-dot" aria-hidden="true"></span>${t(`common.cameraState.${camera.state}`)}
        ${since !== null &&
        html` · <time datetime=${new Date(since).toISOString()} title=${formatTime(since)}>${t("wall.health.since", {
          time: formatTime(since, { hour: "2-digit", minute: "2-digit" }),
          ago: formatRelative(since, now),
        })}</time>`}
      </p>
      ${camera.reason && html`<p class="tile-reason">${camera.reason}</p>`}
    </div>`;
  }
  if (camera.state === "remote" || (mode === "snapshot" && !still)) {
    const note = camera.state === "remote" ? t("common.cameraState.remote") : t("wall.health.snapshots");
    // Why pictures, unless the camera's own reason says it already (a codec no browser plays).
    const why = mode === "snapshot" && camera.browser_video === "pictures" ? camera.browser_video_reason : null;
    const told = Boolean(why && camera.reason?.includes(why));
    return html`<div class="tile-status tile-status-chip" data-health=${camera.state === "remote" ? "remote" : "snapshots"}>
      <p class="tile-health">${note}${mode === "snapshot" && camera.codec ? ` · ${String(camera.codec).toUpperCase()}` : ""}</p>
      ${why && !told && html`<p class="tile-reason">${why}</p>`}
    </div>`;
  }
  if (mode === "whep" && !still && (camera.browser_video === "transcoded" || camera.browser_video === "substream")) {
    return html`<div class="tile-status tile-status-chip" data-health=${camera.browser_video}>
      <p class="tile-health">${t(`wall.health.${camera.browser_video}`)}${camera.codec ? ` · ${String(camera.codec).toUpperCase()}` : ""}</p>
    </div>`;
  }
  return null;
}

// @ts-check
// A camera live, whatever the transport: useCameraLiveMode picks WHEP or snapshots and remounts
// the player after an error; off screen or in a hidden page no player runs at all.
import { html } from "htm/preact";
import { useRef } from "preact/hooks";
import { useCameraLiveMode } from "../../hooks/use-camera-live-mode.js";
import { useVisible } from "../../hooks/use-visible.js";
import { t } from "../../i18n.js";
import { SnapshotPlayer } from "./snapshot-player.js";
import { WhepPlayer } from "./whep-player.js";

/** @typedef {import("../../types/api").Camera} Camera */

/**
 * @param {{camera: Camera, class?: string}} props
 */
export function CameraPlayer({ camera, class: cls }) {
  const box = useRef(/** @type {HTMLDivElement | null} */ (null));
  const visible = useVisible(box);
  const live = useCameraLiveMode(camera);
  const label = t("common.camera.label", { name: camera.name });
  let player = null;
  if (visible && live.mode === "whep") {
    player = html`<${WhepPlayer}
      key=${live.key}
      camera=${camera.id}
      base=${live.base}
      label=${label}
      onError=${live.onError}
      onPlaying=${live.onPlaying}
      class="player-media"
    />`;
  } else if (visible && live.mode === "snapshot") {
    player = html`<${SnapshotPlayer}
      key=${live.key}
      camera=${camera.id}
      label=${label}
      onError=${live.onError}
      onPlaying=${live.onPlaying}
      class="player-media"
    />`;
  }
  const status =
    live.mode !== "none"
      ? ""
      : live.retryAt !== null
        ? t("common.camera.retrying")
        : t(`common.cameraState.${camera.state}`) + (camera.reason ? `: ${camera.reason}` : "");
  return html`<div
    ref=${box}
    class=${`camera-player ${cls ?? ""}`}
    data-camera=${camera.id}
    data-mode=${live.mode}
    data-error=${live.error?.kind}
  >
    ${player ?? html`<div class="player-media player-placeholder" role="img" aria-label=${label}></div>`}
    ${status && html`<p class="player-status">${status}</p>`}
  </div>`;
}

// @ts-check
// A camera's live view beside the map (CameraPlayer: WHEP, or snapshots for video browsers cannot
// play), with its state and whether an alert is open on it. Escape or the close button closes it
// and gives the focus back to where it came from.
import { html } from "htm/preact";
import { useEffect, useRef } from "preact/hooks";
import { CameraPlayer } from "../../components/player/camera-player.js";
import { t } from "../../i18n.js";

/** @typedef {import("../../types/api").Camera} Camera */

/**
 * @typedef {object} CameraPanelProps
 * @property {string} id
 * @property {string} name
 * @property {Camera | null | undefined} camera As GET /api/cameras gives it (undefined: not loaded yet; null: not there).
 * @property {boolean} alert
 * @property {string} [where] The grid's name.
 * @property {() => void} onClose
 */

/** @param {CameraPanelProps} props */
export function CameraPanel({ id, name, camera, alert, where, onClose }) {
  const heading = useRef(/** @type {HTMLHeadingElement | null} */ (null));
  useEffect(() => {
    // On a phone the panel is below the map: bring it into sight.
    const box = heading.current?.closest(".map-panel");
    const r = box?.getBoundingClientRect();
    if (box && r && (r.top < 0 || r.bottom > innerHeight)) {
      box.scrollIntoView({ block: "nearest", behavior: matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth" });
    }
    const from = document.activeElement;
    // From the list, the keyboard follows to the panel; from a click on the map, the map keeps it.
    if (from instanceof HTMLElement && from.closest(".map-side")) heading.current?.focus();
    return () => {
      if (from instanceof HTMLElement && from.isConnected && document.activeElement?.closest(".map-panel")) from.focus();
    };
  }, [id]);

  let body;
  if (camera === undefined) body = html`<p class="map-muted">${t("map.panel.loading")}</p>`;
  else if (camera === null) body = html`<p class="map-muted">${t("map.panel.unknown")}</p>`;
  else body = html`<${CameraPlayer} key=${id} camera=${camera} class="map-player" />`;

  return html`<section
    class=${`map-panel${alert ? " is-alert" : ""}`}
    aria-labelledby="map-panel-title"
    data-panel-camera=${id}
    onKeyDown=${(/** @type {KeyboardEvent} */ e) => {
      if (e.key === "Escape") onClose();
    }}
  >
    <div class="map-panel-head">
      <h3 id="map-panel-title" tabindex="-1" ref=${heading}>
        <span class="map-panel-kind">${t("map.panel.title")}</span> ${name}
      </h3>
      <button type="button" class="map-close" aria-label=${t("map.panel.close")} title=${t("map.panel.close")} onClick=${onClose}>
        <span aria-hidden="true">×</span>
      </button>
    </div>
    ${body}
    <p class="map-panel-meta">
      ${camera ? t(`common.cameraState.${camera.state}`) : ""}${where ? ` · ${where}` : ""}
    </p>
    ${alert && html`<p class="map-panel-alert" role="status">${t("map.panel.alert")}</p>`}
  </section>`;
}

// @ts-check
// What the map's marks mean, drawn with the same classes as the marks themselves.
import { html } from "htm/preact";
import { t } from "../../i18n.js";

const ENTRIES = [
  ["camera", "map-pin map-pin-camera"],
  ["cameraAlert", "map-pin map-pin-camera is-alert"],
  ["cameraDown", "map-pin map-pin-camera is-down"],
  ["incident", "map-pin map-pin-incident sev-P2"],
  ["person", "map-pin map-pin-person"],
  ["area", "map-swatch-area"],
];

export function MapLegend() {
  return html`<section class="map-legend" aria-labelledby="map-legend-title">
    <h3 id="map-legend-title" class="map-legend-title">${t("map.legend.title")}</h3>
    <ul>
      ${ENTRIES.map(
        ([id, cls]) => html`<li key=${id}>
          <span class=${`map-legend-mark ${cls}`} aria-hidden="true">${id === "incident" ? "!" : ""}</span>
          ${t(`map.legend.${id}`)}
        </li>`,
      )}
    </ul>
  </section>`;
}

// @ts-check
// The map (placeholder: cameras, incidents and workers on a Leaflet map come here).
import { html } from "htm/preact";
import { t } from "../../i18n.js";

export function MapView() {
  return html`<section class="view view-map" aria-labelledby="view-title">
    <h2 id="view-title">${t("desk.map.title")}</h2>
    <p class="placeholder">${t("desk.map.placeholder")}</p>
  </section>`;
}

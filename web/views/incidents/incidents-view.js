// @ts-check
// The incident desk (placeholder): the list at #/incidents, one incident at #/incidents/<id>.
import { html } from "htm/preact";
import { t } from "../../i18n.js";

/** @param {{id?: string}} props The incident shown, if one is. */
export function IncidentsView({ id }) {
  return html`<section class="view view-incidents" aria-labelledby="view-title">
    <h2 id="view-title">${id ? t("desk.incidents.one", { id }) : t("desk.incidents.title")}</h2>
    <p class="placeholder">${t("desk.incidents.placeholder")}</p>
  </section>`;
}

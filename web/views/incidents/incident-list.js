// @ts-check
// The live list: one row per incident, what needs attention first; each row leads to the
// incident's page. `data-incident` on every row names the incident (tests and tools use it).
import { html } from "htm/preact";
import { useCameras } from "../../hooks/use-cameras.js";
import { useNow } from "../../hooks/use-incident-clock.js";
import { LIST_LIMIT, isEmergency, isEscalated, needsAttention } from "../../hooks/use-incidents.js";
import { placeName } from "../../hooks/use-incident-places.js";
import { formatRelative, t } from "../../i18n.js";
import { routeHref } from "../../hooks/use-route.js";
import { categoryLabel, incidentTitle, severityLabel, sourceLabel, stateLabel } from "./labels.js";

/** @typedef {import("../../hooks/use-incidents.js").Incident} Incident */
/** @typedef {import("../../hooks/use-incident-places.js").Places} Places */

/** Ages in the list move on this often. */
const AGE_TICK_MS = 30_000;

/**
 * @param {{incident: Incident, places: Places | null, selected: boolean, now: number, cameras: import("../../types/api").Camera[] | null}} props
 */
function IncidentRow({ incident: inc, places, selected, now, cameras }) {
  const escalated = isEscalated(inc);
  const cls = [
    "incident-row",
    `sev-${inc.severity}`,
    `state-${inc.state}`,
    needsAttention(inc) ? "attention" : "",
    isEmergency(inc) ? "emergency" : "",
  ].join(" ");
  const place = placeName(places, inc.grid ?? inc.node) || t("incidents.noPlace");
  return html`<li class=${cls} data-incident=${inc.id} data-state=${inc.state}>
    <a href=${routeHref("incidents", inc.id)} aria-current=${selected ? "page" : undefined}>
      <span class="sev-badge" title=${severityLabel(inc.severity)}>
        <span aria-hidden="true">${inc.severity}</span>
        <span class="visually-hidden">${severityLabel(inc.severity)}</span>
      </span>
      <span class="row-main">
        <span class="row-title">${incidentTitle(inc, cameras)}</span>
        <span class="row-meta">
          <span>#${inc.id}</span>
          <span>${categoryLabel(inc.category)}</span>
          <span>${place}</span>
          <span>${sourceLabel(inc.source)}</span>
          <time datetime=${new Date(inc.created_at * 1000).toISOString()}>${formatRelative(inc.created_at * 1000, now)}</time>
        </span>
      </span>
      <span class="row-side">
        <span class=${`state-badge state-${inc.state}`}>${stateLabel(inc.state)}</span>
        ${escalated &&
        html`<span class="flag flag-escalated">${t("incidents.escalatedTo", { place: placeName(places, inc.responsible) })}</span>`}
        ${inc.count > 1 && html`<span class="flag">${t("incidents.alerts", { count: inc.count })}</span>`}
      </span>
    </a>
  </li>`;
}

/**
 * @param {{incidents: Incident[] | null, total: number | null, places: Places | null, selected: number | null, error: unknown}} props
 */
export function IncidentList({ incidents, total, places, selected, error }) {
  const now = useNow(AGE_TICK_MS);
  const cameras = useCameras();
  if (incidents === null) {
    return html`<p class="muted" role="status">${error ? t("incidents.loadFailed") : t("incidents.loading")}</p>`;
  }
  return html`<div class="incident-list-box">
    ${error && html`<p class="form-error" role="alert">${t("incidents.loadFailed")}</p>`}
    ${incidents.length === 0
      ? html`<p class="muted empty">${t("incidents.none")}</p>`
      : html`<ul class="incident-list" aria-label=${t("incidents.listLabel")}>
          ${incidents.map(
            (inc) => html`<${IncidentRow}
              key=${inc.id}
              incident=${inc}
              places=${places}
              cameras=${cameras}
              selected=${inc.id === selected}
              now=${now}
            />`,
          )}
        </ul>`}
    ${incidents.length >= LIST_LIMIT &&
    html`<p class="muted list-more">${t("incidents.limited", { shown: incidents.length, total: total ?? incidents.length })}</p>`}
  </div>`;
}

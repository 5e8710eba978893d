// @ts-check
// One incident's page: what it is and where, what the caller may do with it, reaching its grid
// (call, briefing, instruction), its deadlines counting down, its evidence and its history. It
// follows the incident's events live.
import { html } from "htm/preact";
import { useEffect, useRef } from "preact/hooks";
import { currentUser } from "../../api/client.js";
import { useCameras } from "../../hooks/use-cameras.js";
import { useNow } from "../../hooks/use-incident-clock.js";
import { incidentNumber, useIncident, useIncidentSuggestions } from "../../hooks/use-incident.js";
import { isEscalated } from "../../hooks/use-incidents.js";
import { personName, placeName, usePlaces } from "../../hooks/use-incident-places.js";
import { routeHref } from "../../hooks/use-route.js";
import { formatDateTime, formatRelative, t } from "../../i18n.js";
import { IncidentActions } from "./incident-actions.js";
import { IncidentDeadlines } from "./incident-deadlines.js";
import { IncidentEvidence } from "./incident-evidence.js";
import { IncidentHistory } from "./incident-history.js";
import { IncidentReach } from "./incident-reach.js";
import { categoryLabel, incidentTitle, severityLabel, sourceLabel, stateLabel, zoneOf } from "./labels.js";

/** @typedef {import("../../hooks/use-incidents.js").Incident} Incident */
/** @typedef {import("../../hooks/use-incident-places.js").Places} Places */

const STAFF = ["admin", "dispatcher", "coordinator"];
/** Below this width the list is hidden while an incident is shown (see incidents.css). */
const ALONE_QUERY = "(max-width: 1099px)";

/** @param {number} s Unix seconds. @param {number} now */
const when = (s, now) => `${formatDateTime(s * 1000, { dateStyle: "medium", timeStyle: "short" })} (${formatRelative(s * 1000, now)})`;

/** @param {{incident: Incident, places: Places | null, cameraName: string | null}} props */
function Facts({ incident: inc, places, cameraName }) {
  const now = useNow(30_000);
  const path = inc.path.slice(1).map((n) => placeName(places, n));
  const assignee = inc.assignee_person
    ? personName(places, inc.assignee_person)
    : inc.assignee_grid
      ? t("incidents.detail.wholeGrid", { place: placeName(places, inc.assignee_grid) })
      : "";
  /** @type {Array<[string, unknown]>} */
  const rows = [
    [t("incidents.detail.place"), path.length ? path.join(" › ") : t("incidents.noPlace")],
    [
      t("incidents.detail.responsible"),
      inc.responsible
        ? html`${placeName(places, inc.responsible)}${isEscalated(inc) && html` <span class="flag flag-escalated">${t("incidents.detail.escalated")}</span>`}`
        : "—",
    ],
    [t("incidents.detail.assignee"), assignee || t("incidents.detail.nobody")],
    [t("incidents.detail.opened"), when(inc.created_at, now)],
    [t("incidents.detail.updated"), when(inc.updated_at, now)],
  ];
  if (inc.count > 1) rows.push([t("incidents.detail.lastSeen"), `${when(inc.last_seen, now)} · ${t("incidents.alerts", { count: inc.count })}`]);
  if (cameraName) rows.push([t("incidents.detail.camera"), zoneOf(inc) ? `${cameraName} / ${zoneOf(inc)}` : cameraName]);
  rows.push([t("incidents.detail.reporter"), inc.reporter === "camera" ? t("incidents.source.camera") : inc.reporter === "public" ? t("incidents.source.resident") : inc.reporter]);
  if (inc.merged_into) rows.push([t("incidents.detail.mergedInto"), html`<a href=${routeHref("incidents", inc.merged_into)}>#${inc.merged_into}</a>`]);
  if (inc.closed_at) rows.push([t("incidents.detail.closed"), when(inc.closed_at, now)]);
  return html`<dl class="facts">
    ${rows.map(([k, v]) => html`<div class="fact"><dt>${k}</dt><dd>${v}</dd></div>`)}
  </dl>`;
}

/** @param {{id: string}} props */
export function IncidentDetail({ id }) {
  const me = currentUser.value;
  const staff = Boolean(me?.roles.some((r) => STAFF.includes(r)));
  const { page, status, transition, reload } = useIncident(id);
  const places = usePlaces();
  const cameras = useCameras();
  const inc = page?.incident ?? null;
  const suggestions = useIncidentSuggestions(incidentNumber(id), inc?.grid ?? null, staff && inc !== null);
  const camera = inc?.camera ? (cameras?.find((c) => c.id === inc.camera) ?? null) : null;
  const cameraName = inc?.camera ? camera?.name || inc.camera : null;
  const heading = useRef(/** @type {HTMLHeadingElement | null} */ (null));
  // Alone on a narrow screen, the page takes the focus from the list link that led here (now gone).
  useEffect(() => {
    if (window.matchMedia(ALONE_QUERY).matches) heading.current?.focus();
  }, []);

  let body;
  if (status === "missing") body = html`<p class="muted" role="status">${t("incidents.detail.missing", { id })}</p>`;
  else if (!page || !inc) {
    body =
      status === "error"
        ? html`<div role="alert"><p class="form-error">${t("incidents.loadFailed")}</p>
            <button type="button" onClick=${reload}>${t("incidents.retry")}</button></div>`
        : html`<p class="muted" role="status">${t("incidents.loading")}</p>`;
  } else {
    body = html`<div class="incident-body" data-incident-page=${inc.id} data-state=${inc.state} data-version=${inc.version}>
      <div class="incident-head">
        <p class="incident-title">${incidentTitle(inc, cameras)}</p>
        <p class="badges">
          <span class=${`sev-badge sev-${inc.severity}`}>${severityLabel(inc.severity)}</span>
          <span class=${`state-badge state-${inc.state}`} data-role="state">${stateLabel(inc.state)}</span>
          <span class="tag">${sourceLabel(inc.source)}</span>
          <span class="tag">${categoryLabel(inc.category)}</span>
        </p>
        ${inc.description && html`<p class="incident-description">${inc.description}</p>`}
        ${inc.feedback && html`<p class="incident-feedback"><strong>${t("incidents.detail.feedback")}</strong> ${inc.feedback}</p>`}
      </div>
      <div class="incident-columns">
        <div class="incident-col">
          <${Facts} incident=${inc} places=${places} cameraName=${cameraName} />
          ${(staff || page.allowed.length > 0) &&
          html`<${IncidentActions}
            incident=${inc}
            allowed=${page.allowed}
            suggestions=${suggestions}
            places=${places}
            transition=${transition}
          />`}
          ${staff &&
          html`<${IncidentReach}
            incident=${inc}
            suggestions=${suggestions}
            places=${places}
            camera=${camera ? { id: camera.id, name: camera.name || camera.id } : null}
          />`}
          <${IncidentDeadlines} deadlines=${page.deadlines} places=${places} />
        </div>
        <div class="incident-col">
          <${IncidentEvidence} key=${inc.id} evidence=${page.evidence} />
          <${IncidentHistory} history=${page.history} places=${places} />
        </div>
      </div>
    </div>`;
  }
  return html`<article class="incident-detail" aria-labelledby="view-title">
    <p class="back-link"><a href=${routeHref("incidents")}>${t("incidents.backToList")}</a></p>
    <h2 id="view-title" ref=${heading} tabindex="-1">${t("incidents.one", { id })}</h2>
    ${body}
  </article>`;
}

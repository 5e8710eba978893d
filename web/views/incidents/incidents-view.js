// @ts-check
// The incident desk: the live list at #/incidents, and one incident's page beside it at
// #/incidents/<id> (on a narrow screen, the page alone, with a way back). A call or briefing
// started from an incident shows in a panel docked at the edge and goes on while the dispatcher
// moves between incidents.
import { signal } from "@preact/signals";
import { html } from "htm/preact";
import { useRef } from "preact/hooks";
import { currentUser } from "../../api/client.js";
import { incidentNumber } from "../../hooks/use-incident.js";
import { usePlaces } from "../../hooks/use-incident-places.js";
import { NO_FILTERS, OPEN_STATES, STATES, useIncidents } from "../../hooks/use-incidents.js";
import { t } from "../../i18n.js";
import { IncidentDetail } from "./incident-detail.js";
import { IncidentFiltersForm } from "./incident-filters.js";
import { IncidentList } from "./incident-list.js";
import { StateTabs } from "./state-tabs.js";

/** @typedef {import("../../hooks/use-incidents.js").IncidentFilters} IncidentFilters */

/** The list's filters, kept while the page lives (the dispatcher comes back to the same list). */
const filtersKept = signal(NO_FILTERS);

/** What the logged-in user's roles make of the desk: a line to say it when it is not everything. */
function scopeNote() {
  const roles = currentUser.value?.roles ?? [];
  if (roles.some((r) => r === "admin" || r === "dispatcher" || r === "coordinator")) return "";
  if (roles.includes("worker")) return t("incidents.scope.worker");
  if (roles.includes("viewer")) return t("incidents.scope.viewer");
  return "";
}

/** @param {{id?: string}} props The incident shown, if one is. */
export function IncidentsView({ id }) {
  const filters = filtersKept.value;
  /** @param {IncidentFilters} f */
  const setFilters = (f) => {
    filtersKept.value = f;
  };
  const { incidents, counts, error } = useIncidents(filters);
  const places = usePlaces();
  // Categories seen so far (the list's own, whatever the category filter), for the filter's choices.
  const categories = useRef(new Set(/** @type {string[]} */ ([])));
  for (const inc of incidents ?? []) categories.current.add(inc.category);
  if (filters.category) categories.current.add(filters.category);
  const note = scopeNote();
  const tabStates = filters.state === "open" ? OPEN_STATES : filters.state === "all" ? STATES : [filters.state];
  const total = counts ? tabStates.reduce((sum, s) => sum + (counts[s] ?? 0), 0) : null;

  const listTitle = id
    ? html`<h2 class="pane-title">${t("incidents.title")}</h2>`
    : html`<h2 id="view-title" class="pane-title">${t("incidents.title")}</h2>`;
  return html`<section class=${`view view-incidents${id ? " has-detail" : ""}`} aria-labelledby="view-title">
    <div class="incidents-list-pane">
      ${listTitle}
      ${note && html`<p class="scope-note">${note}</p>`}
      <${StateTabs} value=${filters.state} counts=${counts} onChange=${(/** @type {IncidentFilters["state"]} */ s) => setFilters({ ...filters, state: s })} />
      <${IncidentFiltersForm} filters=${filters} places=${places} categories=${[...categories.current].sort()} onChange=${setFilters} />
      <${IncidentList} incidents=${incidents} total=${total} places=${places} selected=${incidentNumber(id)} error=${error} />
    </div>
    ${id && html`<div class="incident-pane"><${IncidentDetail} key=${id} id=${id} /></div>`}
  </section>`;
}

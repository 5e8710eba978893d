// @ts-check
// The list's filters: place (a node of the tree and everything below), source, category,
// severity and text. They apply to the list and to the counts alike.
import { html } from "htm/preact";
import { SEVERITIES, SOURCES } from "../../hooks/use-incidents.js";
import { t } from "../../i18n.js";
import { categoryLabel, severityLabel, sourceLabel } from "./labels.js";

/** @typedef {import("../../hooks/use-incidents.js").IncidentFilters} IncidentFilters */
/** @typedef {import("../../hooks/use-incident-places.js").Places} Places */

/**
 * @param {{filters: IncidentFilters, places: Places | null, categories: string[], onChange: (f: IncidentFilters) => void}} props
 */
export function IncidentFiltersForm({ filters, places, categories, onChange }) {
  /** @param {keyof IncidentFilters} key @returns {(e: Event) => void} */
  const set = (key) => (e) => {
    const value = /** @type {HTMLInputElement | HTMLSelectElement} */ (e.currentTarget).value;
    onChange({ ...filters, [key]: value });
  };
  const nodes = (places?.ordered ?? []).filter((p) => p.level !== "property");
  const changed = filters.node || filters.source || filters.category || filters.severity || filters.q;
  return html`<form class="incident-filters" role="search" aria-label=${t("incidents.filters.label")} onSubmit=${(/** @type {Event} */ e) => e.preventDefault()}>
    <div class="filter">
      <label for="filter-node">${t("incidents.filters.place")}</label>
      <select id="filter-node" name="node" value=${filters.node} onChange=${set("node")}>
        <option value="">${t("incidents.filters.anyPlace")}</option>
        ${nodes.map((p) => html`<option value=${p.id}>${"\u2003".repeat(p.depth)}${p.name}</option>`)}
      </select>
    </div>
    <div class="filter">
      <label for="filter-source">${t("incidents.filters.source")}</label>
      <select id="filter-source" name="source" value=${filters.source} onChange=${set("source")}>
        <option value="">${t("incidents.filters.anySource")}</option>
        ${SOURCES.map((s) => html`<option value=${s}>${sourceLabel(s)}</option>`)}
      </select>
    </div>
    <div class="filter">
      <label for="filter-category">${t("incidents.filters.category")}</label>
      <select id="filter-category" name="category" value=${filters.category} onChange=${set("category")}>
        <option value="">${t("incidents.filters.anyCategory")}</option>
        ${categories.map((c) => html`<option value=${c}>${categoryLabel(c)}</option>`)}
      </select>
    </div>
    <div class="filter">
      <label for="filter-severity">${t("incidents.filters.severity")}</label>
      <select id="filter-severity" name="severity" value=${filters.severity} onChange=${set("severity")}>
        <option value="">${t("incidents.filters.anySeverity")}</option>
        ${SEVERITIES.map((s) => html`<option value=${s}>${severityLabel(s)}</option>`)}
      </select>
    </div>
    <div class="filter filter-text">
      <label for="filter-q">${t("incidents.filters.text")}</label>
      <input id="filter-q" name="q" type="search" value=${filters.q} onChange=${set("q")} />
    </div>
    ${changed &&
    html`<button
      type="button"
      class="filter-clear"
      onClick=${() => onChange({ ...filters, node: "", source: "", category: "", severity: "", q: "" })}
    >
      ${t("incidents.filters.clear")}
    </button>`}
  </form>`;
}

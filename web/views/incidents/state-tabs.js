// @ts-check
// The state tabs over the list: every open incident, each state with its count (GET
// /api/incidents/counts under the same filters), and every incident. A pressed button is the
// state shown.
import { html } from "htm/preact";
import { OPEN_STATES, STATES } from "../../hooks/use-incidents.js";
import { formatNumber, t } from "../../i18n.js";
import { stateLabel } from "./labels.js";

/** @typedef {import("../../hooks/use-incidents.js").IncidentFilters} IncidentFilters */
/** @typedef {import("../../hooks/use-incidents.js").StateCounts} StateCounts */

/**
 * @param {{value: IncidentFilters["state"], counts: StateCounts | null, onChange: (state: IncidentFilters["state"]) => void}} props
 */
export function StateTabs({ value, counts, onChange }) {
  /** @param {IncidentFilters["state"]} s */
  const count = (s) => {
    if (!counts) return null;
    if (s === "open") return OPEN_STATES.reduce((sum, x) => sum + (counts[x] ?? 0), 0);
    if (s === "all") return STATES.reduce((sum, x) => sum + (counts[x] ?? 0), 0);
    return counts[s] ?? 0;
  };
  /** @type {Array<IncidentFilters["state"]>} */
  const tabs = ["open", ...STATES, "all"];
  return html`<div class="state-tabs" role="group" aria-label=${t("incidents.filters.state")}>
    ${tabs.map((s) => {
      const n = count(s);
      const label = s === "open" ? t("incidents.filters.open") : s === "all" ? t("incidents.filters.all") : stateLabel(s);
      return html`<button
        type="button"
        class=${`state-tab tab-${s}${n ? "" : " zero"}`}
        aria-pressed=${value === s}
        data-state=${s}
        onClick=${() => onChange(s)}
      >
        <span class="tab-label">${label}</span>
        <span class="tab-count" data-count=${n ?? ""}>${n === null ? "…" : formatNumber(n)}</span>
      </button>`;
    })}
  </div>`;
}

// @ts-check
// The incident's history from the log, newest first: what happened, when, by whom, with the note,
// the assignee, the level it escalated to, or the incident it was merged into.
import { html } from "htm/preact";
import { personName, placeName } from "../../hooks/use-incident-places.js";
import { routeHref } from "../../hooks/use-route.js";
import { formatDateTime, t } from "../../i18n.js";
import { stateLabel } from "./labels.js";

/** @typedef {import("../../types/api").HubEvent} HubEvent */
/** @typedef {import("../../hooks/use-incident-places.js").Places} Places */

/** Event kinds with a message of their own (the rest are transitions to a state). */
const KINDS = ["created", "folded", "escalated", "evidence_added"];

/**
 * @param {HubEvent} ev
 * @param {Places | null} places
 */
function details(ev, places) {
  const d = ev.data;
  /** @type {Array<import("preact").VNode | string>} */
  const out = [];
  const assignee = /** @type {{person?: string | null, grid?: string | null} | undefined} */ (d.assignee);
  if (assignee?.person) out.push(t("incidents.history.toPerson", { name: personName(places, assignee.person) }));
  else if (assignee?.grid) out.push(t("incidents.history.toGrid", { place: placeName(places, assignee.grid) }));
  if (typeof d.merged_into === "number") {
    out.push(html`<a href=${routeHref("incidents", d.merged_into)}>${t("incidents.history.mergedInto", { id: d.merged_into })}</a>`);
  }
  if (ev.type === "incident.escalated") {
    out.push(
      t("incidents.history.escalation", {
        deadline: t(`incidents.deadline.kinds.${String(d.deadline)}`),
        place: placeName(places, /** @type {string} */ (d.to)),
      }),
    );
  }
  if (ev.type === "incident.folded" && typeof d.count === "number") out.push(t("incidents.alerts", { count: d.count }));
  if (ev.type === "incident.evidence_added" && typeof d.kind === "string") {
    out.push(t(`incidents.evidence.kinds.${["snapshot", "clip", "photo"].includes(d.kind) ? d.kind : "file"}`));
  }
  return out;
}

/** @param {{history: HubEvent[], places: Places | null}} props */
export function IncidentHistory({ history, places }) {
  return html`<section class="incident-section" aria-labelledby="history-title">
    <h3 id="history-title">${t("incidents.history.title")}</h3>
    <ol class="history">
      ${[...history].reverse().map((ev) => {
        const kind = ev.type.replace(/^incident\./, "");
        const what = KINDS.includes(kind) ? t(`incidents.history.kinds.${kind}`) : stateLabel(kind);
        const note = typeof ev.data.note === "string" ? ev.data.note : "";
        return html`<li class=${`history-item history-${kind}`} data-event=${ev.id} data-type=${ev.type}>
          <time datetime=${ev.ts}>${formatDateTime(ev.ts, { dateStyle: "short", timeStyle: "medium" })}</time>
          <span class="history-what">${what}</span>
          <span class="history-who">${t("incidents.history.by", { name: ev.actor })}</span>
          ${details(ev, places).map((x) => html`<span class="history-detail">${x}</span>`)}
          ${note && html`<q class="history-note">${note}</q>`}
        </li>`;
      })}
    </ol>
  </section>`;
}

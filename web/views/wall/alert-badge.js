// @ts-check
// The badge of a tile whose camera has an alert: what was seen and when, how many are open, and a
// link to the incidents (where an alert becomes an incident to handle). Dimmed once it ended.
// `data-alert-ts` is the alert's time (ms, the frame's), `data-event-id` and `data-event-ts` the feed
// event it came from and when the hub logged it (ms): tools measure event → badge from these.
import { html } from "htm/preact";
import { incidentOfAlert } from "../../hooks/use-open-alerts.js";
import { routeHref } from "../../hooks/use-route.js";
import { formatTime, t } from "../../i18n.js";

/** @typedef {import("../../hooks/use-open-alerts.js").OpenAlert} OpenAlert */

/**
 * The name of an alert kind in the user's language ("tamper.covered" → "Camera covered").
 * @param {string} kind
 */
export function kindName(kind) {
  const id = `wall.kind.${kind}`;
  const name = t(id);
  return name === id ? kind : name;
}

/**
 * @param {{alerts: OpenAlert[]}} props The camera's alerts, oldest first (open ones, else the ended).
 */
export function AlertBadge({ alerts }) {
  const open = alerts.filter((a) => a.endedAt === null);
  const shown = open.length ? open[open.length - 1] : alerts[alerts.length - 1];
  if (!shown) return null;
  const ended = !open.length;
  // The incident this alert opened or folded into: one click to it, and from there to its grid.
  const incident = incidentOfAlert.value.get(shown.id);
  return html`<div
    class=${`alert-badge${ended ? " alert-ended" : ""}`}
    data-alert-id=${shown.id}
    data-alert-ts=${Math.round(shown.ts)}
    data-event-id=${shown.eventId ?? undefined}
    data-event-ts=${shown.eventTs ?? undefined}
  >
    <p class="alert-what">
      <strong>${kindName(shown.kind)}</strong>
      <time datetime=${new Date(shown.ts).toISOString()}>${formatTime(shown.ts)}</time>
      ${open.length > 1 && html`<span class="alert-more">${t("wall.alert.more", { count: open.length - 1 })}</span>`}
      ${ended && html`<span class="alert-state">${t("wall.alert.ended")}</span>`}
    </p>
    ${incident
      ? html`<a class="alert-link" href=${routeHref("incidents", String(incident))}>${t("wall.alert.incident", { id: incident })}</a>`
      : html`<a class="alert-link" href=${routeHref("incidents")}>${t("wall.alert.incidents")}</a>`}
  </div>`;
}

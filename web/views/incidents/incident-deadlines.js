// @ts-check
// The incident's deadlines: each one's kind, the level answerable for it, when it is due and the
// time left counting down; a missed one shows when it escalated, a met or stopped one as such.
import { html } from "htm/preact";
import { useNow } from "../../hooks/use-incident-clock.js";
import { placeName } from "../../hooks/use-incident-places.js";
import { formatNumber, formatTime, t } from "../../i18n.js";

/** @typedef {import("../../hooks/use-incident.js").Deadline} Deadline */
/** @typedef {import("../../hooks/use-incident-places.js").Places} Places */

/**
 * A span of time as h:mm:ss or m:ss, in the reader's digits.
 * @param {number} ms
 */
export function formatSpan(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const two = { minimumIntegerDigits: 2 };
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = formatNumber(s % 60, two);
  return h ? `${formatNumber(h)}:${formatNumber(m, two)}:${sec}` : `${formatNumber(m)}:${sec}`;
}

/**
 * @param {Deadline} d
 * @param {number} now
 */
function status(d, now) {
  if (d.fired_at !== null) return { key: "fired", text: t("incidents.deadline.fired", { time: formatTime(d.fired_at * 1000) }) };
  if (d.cancelled_at !== null) {
    return { key: "done", text: t("incidents.deadline.cancelled", { time: formatTime(d.cancelled_at * 1000) }) };
  }
  const left = d.due_at * 1000 - now;
  if (left < 0) return { key: "overdue", text: t("incidents.deadline.overdue", { time: formatSpan(-left) }) };
  return { key: left < 60_000 ? "soon" : "running", text: t("incidents.deadline.left", { time: formatSpan(left) }) };
}

/** @param {{deadlines: Deadline[], places: Places | null}} props */
export function IncidentDeadlines({ deadlines, places }) {
  const pending = deadlines.some((d) => d.fired_at === null && d.cancelled_at === null);
  const now = useNow(1000, pending);
  return html`<section class="incident-section" aria-labelledby="deadlines-title">
    <h3 id="deadlines-title">${t("incidents.deadline.title")}</h3>
    ${deadlines.length === 0
      ? html`<p class="muted">${t("incidents.deadline.none")}</p>`
      : html`<table class="deadlines">
          <thead>
            <tr>
              <th scope="col">${t("incidents.deadline.kind")}</th>
              <th scope="col">${t("incidents.deadline.level")}</th>
              <th scope="col">${t("incidents.deadline.due")}</th>
              <th scope="col">${t("incidents.deadline.status")}</th>
            </tr>
          </thead>
          <tbody>
            ${[...deadlines].reverse().map((d) => {
              const st = status(d, now);
              return html`<tr class=${`deadline deadline-${st.key}`} data-deadline=${d.kind} data-status=${st.key}>
                <th scope="row">${t(`incidents.deadline.kinds.${d.kind}`)}</th>
                <td>${placeName(places, d.level)}</td>
                <td><time datetime=${new Date(d.due_at * 1000).toISOString()}>${formatTime(d.due_at * 1000)}</time></td>
                <td class="deadline-status">${st.text}</td>
              </tr>`;
            })}
          </tbody>
        </table>`}
  </section>`;
}

// @ts-check
// My incidents: those assigned to me or reported by me that are still open. Acknowledge, on site,
// resolve with a note and photos (shrunk on the phone): each step goes through the outbox, so a
// dead spot delays it and loses nothing; the card shows the step as taken, waiting to be sent.
import { signal } from "@preact/signals";
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { api, currentUser } from "../../api/client.js";
import { onEvents, startFeed } from "../../api/feed.js";
import { enqueue, keeping, onSent, outbox } from "../../hooks/use-worker-outbox.js";
import { formatTime, t } from "../../i18n.js";
import { shrinkAll } from "./photos.js";

/**
 * @typedef {object} Incident
 * @property {number} id
 * @property {string} title
 * @property {string} description
 * @property {string} state
 * @property {number} version
 * @property {string} severity
 * @property {string | null} assignee_person
 * @property {string} reporter
 * @property {string | null} grid
 * @property {number} created_at
 */

const OPEN = ["new", "verified", "assigned", "acknowledged", "on_site", "reopened"];
const NEXT = /** @type {Record<string, string[]>} */ ({
  assigned: ["acknowledged"],
  reopened: ["acknowledged"],
  acknowledged: ["on_site"],
  on_site: ["resolved"],
});

export const myIncidents = signal(/** @type {Incident[]} */ ([]));
/** Steps taken on the phone, not yet known from the hub: id → {state, version}. */
const local = signal(/** @type {Record<number, {state: string, version: number}>} */ ({}));
let started = false;

/** @param {Incident} i */
function mine(i) {
  const u = currentUser.value;
  return Boolean(u && (i.assignee_person === u.person || i.reporter === u.username));
}

export async function refreshIncidents() {
  const q = OPEN.map((s) => `state=${s}`).join("&");
  try {
    /** @type {Incident[]} */
    const found = await api(`/api/incidents?${q}&limit=100`);
    myIncidents.value = found.filter(mine);
    const keep = { ...local.value };
    for (const i of found) if (keep[i.id] && i.version >= keep[i.id].version) delete keep[i.id];
    local.value = keep;
  } catch {
    // Offline: the list stays as it was.
  }
}

export function startIncidents() {
  if (started) return;
  started = true;
  startFeed({ backlog: 0 });
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let soon;
  onEvents("incident.", () => {
    clearTimeout(soon);
    soon = setTimeout(() => void refreshIncidents(), 300);
  });
  onSent((item) => {
    if (item.path.startsWith("/api/incidents/") || item.path === "/api/reports") void refreshIncidents();
  });
  void refreshIncidents();
}

/** @param {Incident} i */
function shown(i) {
  const l = local.value[i.id];
  return l ? { state: l.state, version: l.version } : { state: i.state, version: i.version };
}

/**
 * @param {Incident} i
 * @param {string} to
 * @param {string} [note]
 * @param {Blob[]} [photos]
 */
function step(i, to, note = "", photos = []) {
  const now = shown(i);
  if (photos.length) {
    enqueue({ kind: "photos", label: i.title, path: `/api/incidents/${i.id}/evidence`, json: null, fields: {}, photos });
  }
  const body = /** @type {Record<string, unknown>} */ ({ to, version: now.version });
  if (note) body.note = note;
  enqueue({ kind: "transition", label: `${i.title} → ${t(`worker.incident.state.${to}`)}`, path: `/api/incidents/${i.id}/transitions`, json: body, fields: null });
  local.value = { ...local.value, [i.id]: { state: to, version: now.version + 1 } };
}

/** @param {{incident: Incident}} props */
function ResolveForm({ incident }) {
  const [note, setNote] = useState("");
  const [bad, setBad] = useState(/** @type {string[]} */ ([]));
  const [photos, setPhotos] = useState(/** @type {Blob[]} */ ([]));
  const id = `resolve-${incident.id}`;
  /** @param {Event} e */
  const pick = async (e) => {
    const r = await shrinkAll(/** @type {HTMLInputElement} */ (e.currentTarget).files);
    setPhotos([...photos, ...r.good].slice(0, 5));
    setBad(r.bad);
  };
  /** @param {SubmitEvent} e */
  const submit = (e) => {
    e.preventDefault();
    step(incident, "resolved", note.trim(), photos);
  };
  return html`<form class="resolve-form" onSubmit=${submit}>
    <label for=${`${id}-note`}>${t("worker.incident.note")}</label>
    <textarea id=${`${id}-note`} name="note" required rows="3" value=${note} onInput=${(/** @type {any} */ e) => setNote(e.currentTarget.value)}></textarea>
    <label class="big-button file-button" for=${`${id}-photos`}>${t("worker.photos.add", { count: photos.length })}</label>
    <input id=${`${id}-photos`} class="visually-hidden" type="file" name="photos" accept="image/*" capture="environment" multiple onChange=${pick} />
    ${bad.length ? html`<p class="form-error" role="alert">${t("worker.photos.notImage", { names: bad.join(", ") })}</p>` : null}
    <button type="submit" class="big-button primary">${t("worker.incident.resolve")}</button>
  </form>`;
}

/** @param {{incident: Incident}} props */
function IncidentCard({ incident: i }) {
  const now = shown(i);
  const mine = (/** @type {{path: string}} */ o) => o.path.startsWith(`/api/incidents/${i.id}/`);
  const waiting = outbox.value.some(mine) || keeping.value.some(mine);
  const next = NEXT[now.state] ?? [];
  return html`<article class=${`incident-card sev-${i.severity}`} data-incident=${i.id} data-state=${now.state} aria-labelledby=${`incident-${i.id}-title`}>
    <p class="instruction-meta"><span class="badge">${i.severity.toUpperCase()}</span> #${i.id} · ${formatTime(i.created_at * 1000, { hour: "2-digit", minute: "2-digit" })}</p>
    <h3 id=${`incident-${i.id}-title`}>${i.title}</h3>
    ${i.description && i.description !== i.title ? html`<p>${i.description}</p>` : null}
    <p class="instruction-state" role="status">
      ${t(`worker.incident.state.${now.state}`)}${waiting ? ` · ${t("worker.outbox.waitingShort")}` : ""}
    </p>
    <div class="instruction-actions">
      ${next
        .filter((to) => to !== "resolved")
        .map(
          (to) => html`<button type="button" class=${`big-button primary to-${to}`} onClick=${() => step(i, to)}>
            ${t(`worker.incident.do.${to}`)}
          </button>`,
        )}
    </div>
    ${next.includes("resolved") && html`<${ResolveForm} incident=${i} />`}
  </article>`;
}

export function IncidentsView() {
  useEffect(() => {
    void refreshIncidents();
  }, []);
  const list = myIncidents.value;
  return html`<section class="worker-screen" aria-labelledby="incidents-title">
    <h2 id="incidents-title" class="screen-title">${t("worker.incident.title")}</h2>
    ${list.length === 0 && html`<p class="empty">${t("worker.incident.empty")}</p>`}
    ${list.map((i) => html`<${IncidentCard} key=${i.id} incident=${i} />`)}
  </section>`;
}

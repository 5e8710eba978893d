// @ts-check
// What the caller may do with the incident now: the hub's `allowed` list as buttons. Steps that
// need nothing more go at once (verify, acknowledge, on site, close); the others open a small form
// for what they need: whom to assign (the hub's suggestions, or a whole grid), the incident to
// merge into, the resolution's feedback, a reason to dismiss or reopen. Every step carries the
// version shown: a 409 (someone else changed it meanwhile) is explained, and the incident shown
// is fetched again.
import { html } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { HttpError, api } from "../../api/client.js";
import { OPEN_STATES } from "../../hooks/use-incidents.js";
import { placeName } from "../../hooks/use-incident-places.js";
import { t } from "../../i18n.js";
import { stateLabel } from "./labels.js";

/** @typedef {import("../../hooks/use-incidents.js").Incident} Incident */
/** @typedef {import("../../hooks/use-incidents.js").IncidentState} IncidentState */
/** @typedef {import("../../hooks/use-incident.js").Suggestion} Suggestion */
/** @typedef {import("../../hooks/use-incident.js").TransitionExtra} TransitionExtra */
/** @typedef {import("../../hooks/use-incident-places.js").Places} Places */

/** The order the buttons come in: the loop forward, then the ways out of it. */
const ORDER = /** @type {IncidentState[]} */ ([
  "verified",
  "assigned",
  "acknowledged",
  "on_site",
  "resolved",
  "closed",
  "reopened",
  "merged",
  "dismissed",
]);
/** Steps that need nothing but a click. */
const AT_ONCE = new Set(["verified", "acknowledged", "on_site", "closed"]);

/**
 * @typedef {object} ActionsProps
 * @property {Incident} incident
 * @property {IncidentState[]} allowed
 * @property {Suggestion[]} suggestions
 * @property {Places | null} places
 * @property {(to: IncidentState, extra?: TransitionExtra) => Promise<"done" | "conflict">} transition
 */

/** @param {ActionsProps} props */
export function IncidentActions({ incident, allowed, suggestions, places, transition }) {
  const [open, setOpen] = useState(/** @type {IncidentState | null} */ (null));
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState(/** @type {{kind: "ok" | "error" | "conflict", text: string} | null} */ (null));
  // Another incident shown, or the state moved on (here or elsewhere): close the open form.
  useEffect(() => setOpen(null), [incident.id, incident.state]);

  /** @param {IncidentState} to @param {TransitionExtra} [extra] */
  const go = async (to, extra = {}) => {
    setBusy(true);
    setMessage(null);
    try {
      const result = await transition(to, extra);
      if (result === "conflict") setMessage({ kind: "conflict", text: t("incidents.action.conflict") });
      else setMessage({ kind: "ok", text: t("incidents.action.done", { state: stateLabel(to) }) });
      setOpen(null);
    } catch (err) {
      const detail = err instanceof HttpError ? err.detail : String(err);
      setMessage({ kind: "error", text: t("incidents.action.refused", { detail }) });
    } finally {
      setBusy(false);
    }
  };

  const steps = ORDER.filter((s) => allowed.includes(s));
  /** @param {IncidentState} s */
  const label = (s) =>
    s === "assigned" && incident.state !== "new" && incident.state !== "verified" && incident.state !== "reopened"
      ? t("incidents.action.reassign")
      : t(`incidents.action.${s}`);
  return html`<section class="incident-section incident-actions" aria-labelledby="actions-title">
    <h3 id="actions-title">${t("incidents.action.title")}</h3>
    ${steps.length === 0
      ? html`<p class="muted">${t("incidents.action.none")}</p>`
      : html`<div class="action-buttons">
          ${steps.map(
            (s) => html`<button
              type="button"
              class=${`action action-${s}${s === "dismissed" ? " danger-outline" : ""}${open === s ? " open" : ""}`}
              data-action=${s}
              disabled=${busy}
              aria-expanded=${AT_ONCE.has(s) && !(s === "verified" && !incident.node) ? undefined : open === s}
              onClick=${() => (AT_ONCE.has(s) && !(s === "verified" && !incident.node) ? go(s) : setOpen(open === s ? null : s))}
            >
              ${label(s)}
            </button>`,
          )}
        </div>`}
    ${open &&
    html`<${ActionForm}
      key=${open}
      to=${open}
      incident=${incident}
      suggestions=${suggestions}
      places=${places}
      busy=${busy}
      onSubmit=${go}
      onCancel=${() => setOpen(null)}
    />`}
    <div class="action-message" role=${message?.kind === "ok" ? "status" : "alert"}>
      ${message && html`<p class=${`message-${message.kind}`}>${message.text}</p>`}
    </div>
  </section>`;
}

/**
 * @typedef {object} FormProps
 * @property {IncidentState} to
 * @property {Incident} incident
 * @property {Suggestion[]} suggestions
 * @property {Places | null} places
 * @property {boolean} busy
 * @property {(to: IncidentState, extra: TransitionExtra) => void} onSubmit
 * @property {() => void} onCancel
 */

/** @param {FormProps} props */
function ActionForm({ to, incident, suggestions, places, busy, onSubmit, onCancel }) {
  const form = useRef(/** @type {HTMLFormElement | null} */ (null));
  // Opened from its button: the keyboard goes on in the form.
  useEffect(() => {
    const first = form.current?.querySelector("input:checked, input, select, textarea");
    if (first instanceof HTMLElement) first.focus();
  }, []);
  const [targets, setTargets] = useState(/** @type {Incident[] | null} */ (null));
  useEffect(() => {
    if (to !== "merged") return;
    const q = new URLSearchParams(OPEN_STATES.map((s) => ["state", s]));
    q.set("limit", "200");
    api(`/api/incidents?${q}`).then(
      (/** @type {Incident[]} */ list) => setTargets(list.filter((i) => i.id !== incident.id)),
      () => setTargets([]),
    );
  }, [to]);
  const needsPlace = (to === "verified" || to === "assigned") && !incident.node;
  const grids = /** @type {string[]} */ ([...new Set([incident.grid, ...suggestions.map((s) => s.grid)])].filter(Boolean));
  const first = suggestions.length ? `person:${suggestions[0].id}` : grids.length ? `grid:${grids[0]}` : "";
  const [picked, setAssignee] = useState("");
  const assignee = picked || first; // the suggestions may come after the form opened
  /** @param {string} value */
  const radio = (value) => html`<input
    type="radio"
    name="assignee"
    value=${value}
    required
    checked=${assignee === value}
    onChange=${() => setAssignee(value)}
  />`;

  /** @param {SubmitEvent} e */
  const submit = (e) => {
    e.preventDefault();
    const form = new FormData(/** @type {HTMLFormElement} */ (e.currentTarget));
    /** @type {TransitionExtra} */
    const extra = {};
    const note = String(form.get("note") ?? "").trim();
    if (note) extra.note = note;
    if (to === "assigned" && assignee) {
      extra.assignee = assignee.startsWith("grid:") ? { grid: assignee.slice(5) } : { person: assignee.slice(7) };
    }
    if (to === "merged") extra.merge_into = Number(form.get("merge_into"));
    const node = String(form.get("node") ?? "");
    if (needsPlace && node) extra.node = node;
    onSubmit(to, extra);
  };

  const placeChoices = (places?.ordered ?? []).filter((p) => p.level !== "district");
  /** @param {KeyboardEvent} e */
  const onKey = (e) => {
    if (e.key === "Escape") onCancel();
  };
  return html`<form
    ref=${form}
    class="action-form"
    data-form=${to}
    onSubmit=${submit}
    onKeyDown=${onKey}
    aria-labelledby="action-form-title"
  >
    <h4 id="action-form-title">${t(`incidents.action.${to}`)}</h4>
    ${to === "assigned" &&
    html`<fieldset class="assignees">
      <legend>${t("incidents.action.assignee")}</legend>
      ${suggestions.map(
        (s) => html`<label class="choice">
          ${radio(`person:${s.id}`)}
          <span>${s.name}</span>
          <span class="muted">${placeName(places, s.grid)} · ${s.reason === "own grid" ? t("incidents.action.ownGrid") : t("incidents.action.neighbour")}</span>
        </label>`,
      )}
      ${grids.map(
        (g) => html`<label class="choice">
          ${radio(`grid:${g}`)}
          <span>${t("incidents.action.wholeGrid", { place: placeName(places, g) })}</span>
        </label>`,
      )}
      ${suggestions.length === 0 && grids.length === 0 && html`<p class="muted">${t("incidents.action.nobody")}</p>`}
    </fieldset>`}
    ${needsPlace &&
    html`<label for="action-node">${t("incidents.action.place")}</label>
      <select id="action-node" name="node" required=${to === "verified"}>
        <option value="">${t("incidents.action.choosePlace")}</option>
        ${placeChoices.map((p) => html`<option value=${p.id}>${"\u2003".repeat(Math.max(0, p.depth - 1))}${p.name}</option>`)}
      </select>`}
    ${to === "merged" &&
    html`<label for="action-merge">${t("incidents.action.mergeInto")}</label>
      <select id="action-merge" name="merge_into" required>
        <option value="">${targets === null ? t("incidents.loading") : t("incidents.action.chooseIncident")}</option>
        ${(targets ?? []).map((i) => html`<option value=${i.id}>#${i.id} · ${i.title} (${stateLabel(i.state)})</option>`)}
      </select>`}
    <label for="action-note">${to === "resolved" ? t("incidents.action.feedback") : t("incidents.action.note")}</label>
    <textarea id="action-note" name="note" rows="2" maxlength="4000" required=${to === "resolved"}></textarea>
    <div class="form-buttons">
      <button type="button" onClick=${onCancel}>${t("incidents.action.cancel")}</button>
      <button type="submit" class=${to === "dismissed" ? "danger" : "primary"} disabled=${busy}>${t(`incidents.action.confirm.${to}`)}</button>
    </div>
  </form>`;
}

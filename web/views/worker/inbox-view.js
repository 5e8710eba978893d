// @ts-check
// The inbox: instructions newest first, each with one-tap acknowledge and its reply options;
// an emergency not yet acknowledged takes over the screen, with sound and vibration, until it is.
import { html } from "htm/preact";
import { useEffect } from "preact/hooks";
import { confirm, inbox, isOpen, listed, notices } from "../../hooks/use-worker-inbox.js";
import { keeping, outbox } from "../../hooks/use-worker-outbox.js";
import { formatTime, t } from "../../i18n.js";
import { startAlarm } from "./alarm.js";

/** @typedef {import("../../hooks/use-worker-inbox.js").InboxEntry} InboxEntry */

/** @param {number} id */
function waiting(id) {
  const path = `/api/instructions/${id}/ack`;
  return outbox.value.some((i) => i.path === path) || keeping.value.some((i) => i.path === path);
}

/** @param {InboxEntry} e */
function stateText(e) {
  if (e.inst.cancelled) return t("worker.inbox.state.cancelled");
  if (waiting(e.inst.id)) return t("worker.inbox.state.waiting");
  if (e.state === "replied" && e.reply) return t("worker.inbox.state.repliedWith", { reply: e.reply });
  return t(`worker.inbox.state.${e.state}`);
}

/** One instruction. @param {{entry: InboxEntry, big?: boolean}} props */
export function InstructionCard({ entry: e, big = false }) {
  const open = isOpen(e) && !waiting(e.inst.id);
  const id = e.inst.id;
  return html`<article
    class=${`instruction priority-${e.inst.priority}${e.inst.cancelled ? " cancelled" : ""}${open ? " open" : " done"}${big ? " big" : ""}`}
    data-instruction=${id}
    data-state=${e.inst.cancelled ? "cancelled" : e.state}
    aria-labelledby=${`instruction-${id}-text`}
  >
    <p class="instruction-meta">
      <span class="badge">${t(`worker.priority.${e.inst.priority}`)}</span>
      ${" "}${t("worker.inbox.from", { name: e.inst.sent_by })}
      ${e.inst.sent_at ? html` · <time>${formatTime(e.inst.sent_at * 1000, { hour: "2-digit", minute: "2-digit" })}</time>` : ""}
      ${e.inst.amendments ? html` · ${t("worker.inbox.amended")}` : ""}
    </p>
    <p class="instruction-text" id=${`instruction-${id}-text`}>${e.inst.text}</p>
    <p class="instruction-state" role="status">${stateText(e)}</p>
    ${open &&
    html`<div class="instruction-actions">
      <button type="button" class="ack big-button primary" onClick=${() => confirm(id)}>${t("worker.inbox.ack")}</button>
      ${(e.inst.reply_options ?? []).map(
        (o) => html`<button type="button" class="reply big-button" onClick=${() => confirm(id, o)}>${o}</button>`,
      )}
    </div>`}
  </article>`;
}

/** The first emergency still open (oldest first: the one sent first is answered first). */
function emergency() {
  const open = listed(inbox.value).filter((e) => e.inst.priority === "emergency" && isOpen(e) && !waiting(e.inst.id));
  return open.length ? open[open.length - 1] : null;
}

/** Full screen until acknowledged. */
export function EmergencyTakeover() {
  const e = emergency();
  const id = e?.inst.id ?? null;
  useEffect(() => {
    if (id === null) return;
    const stop = startAlarm("emergency");
    return stop;
  }, [id]);
  if (!e) return null;
  return html`<div class="takeover emergency" role="alertdialog" aria-modal="true" aria-labelledby="emergency-title">
    <h2 id="emergency-title">${t("worker.emergency.title")}</h2>
    <${InstructionCard} entry=${e} big=${true} />
  </div>`;
}

export function InboxView() {
  const all = listed(inbox.value);
  const shown = emergency()?.inst.id;
  return html`<section class="worker-screen" aria-labelledby="inbox-title">
    <h2 id="inbox-title" class="screen-title">${t("worker.inbox.title")}</h2>
    ${[...notices.value].reverse().map(
      ([cursor, n]) => html`<p class="notice leader-notice" key=${cursor} role="status">
        ${t("worker.inbox.notice", { names: n.persons.join(", "), text: n.text })}
      </p>`,
    )}
    ${all.length === 0 && html`<p class="empty">${t("worker.inbox.empty")}</p>`}
    <div class="instruction-list">
      ${all.filter((e) => e.inst.id !== shown).map((e) => html`<${InstructionCard} key=${e.inst.id} entry=${e} />`)}
    </div>
  </section>`;
}

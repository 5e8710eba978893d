// @ts-check
// One instruction: what the recipients were shown, its bars, the same broken down by the nodes
// of the tree with a drill-down to the people, the replies by option, who has not acknowledged
// (re-sent to exactly them in one click), amend, cancel, and its receipts as CSV.
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { HttpError, api, blob } from "../../api/client.js";
import { inCall, placeCall, startBriefing } from "../../hooks/use-call.js";
import { nodeName, personName, useConsoleDirectory } from "../../hooks/use-console-directory.js";
import { useInstructionDetail } from "../../hooks/use-instruction-detail.js";
import { zeroCounts } from "../../hooks/use-instructions.js";
import { formatDateTime, formatNumber, t } from "../../i18n.js";
import { ProgressBars } from "./progress-bars.js";

/** @typedef {import("../../types/console").Instruction} Instruction */
/** @typedef {import("../../types/console").Receipt} Receipt */
/** @typedef {import("../../types/console").ReceiptState} ReceiptState */
/** @typedef {import("../../hooks/use-console-directory.js").ConsoleDirectory} ConsoleDirectory */

/** Names listed at most in "not acknowledged" and in a node's people. */
const NAMES_SHOWN = 60;
const NO_NODE = "(none)";

/** @param {Receipt} r */
const confirmed = (r) => r.state === "acknowledged" || r.state === "replied";

/** @param {unknown} err */
function message(err) {
  return err instanceof HttpError ? err.detail : String(/** @type {Error} */ (err).message ?? err);
}

/** @param {{id: number}} props */
export function InstructionDetail({ id }) {
  const { directory } = useConsoleDirectory();
  const { instruction: inst, receipts, error, reload } = useInstructionDetail(id);
  const [status, setStatus] = useState(/** @type {{ok: boolean, text: string} | null} */ (null));
  useEffect(() => setStatus(null), [id]);

  if (error) return html`<section class="panel detail"><p class="form-error" role="alert">${error}</p></section>`;
  if (!inst) return html`<section class="panel detail" aria-busy="true"><p class="muted">…</p></section>`;

  const all = [...receipts.values()];
  const waiting = all.filter((r) => !confirmed(r));
  // Counted from the receipts themselves, which move with every step on the feed.
  const perState = zeroCounts();
  for (const r of all) perState[r.state] += 1;

  /** @param {() => Promise<string>} action */
  const act = async (action) => {
    try {
      setStatus({ ok: true, text: await action() });
    } catch (err) {
      setStatus({ ok: false, text: message(err) });
    }
  };

  const resend = () =>
    act(async () => {
      const out = await api(`/api/instructions/${id}/resend`, { method: "POST" });
      return t("console.detail.resent", { n: out.renotified.length, count: out.renotified.length });
    });

  const csv = () =>
    act(async () => {
      const file = await blob(`/api/instructions/${id}/receipts.csv`);
      const href = URL.createObjectURL(file);
      const a = document.createElement("a");
      a.href = href;
      a.download = `instruction-${id}-receipts.csv`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(href), 10_000);
      return t("console.detail.csvDone");
    });

  return html`<section class="panel detail" aria-labelledby="detail-title" data-detail=${id}>
    <h2 id="detail-title">${t("console.detail.title", { id })}</h2>
    <div class="shown">
      <p class="shown-label">${t("console.detail.shown")}</p>
      <blockquote class="shown-text">${inst.text}</blockquote>
      <p class="console-meta">
        <span class=${`badge prio-${inst.priority}`}>${t(`console.priority.${inst.priority}`)}</span>
        ${inst.cancelled ? html` <span class="badge cancelled">${t("console.detail.cancelled")}</span>` : null}
        ${" "}${t("console.detail.sentBy", { who: inst.sent_by, at: formatDateTime(inst.sent_at * 1000) })}
        ${inst.deadline_at ? html` · ${t("console.detail.deadline", { at: formatDateTime(inst.deadline_at * 1000) })}` : null}
        ${inst.amendments ? html` · ${t("console.detail.amended", { n: inst.amendments, count: inst.amendments })}` : null}
      </p>
    </div>
    <${ProgressBars} perState=${all.length ? perState : inst.per_state} total=${inst.recipients} />
    <p class=${status?.ok ? "form-ok" : "form-error"} role="status">${status?.text ?? ""}</p>

    <section class="waiting" aria-labelledby="waiting-title">
      <h3 id="waiting-title">${t("console.detail.waiting", { n: waiting.length })}</h3>
      ${waiting.length
        ? html`<button type="button" class="primary resend" disabled=${inst.cancelled} onClick=${resend}>
              ${t("console.detail.resend", { n: waiting.length, count: waiting.length })}
            </button>
            <ul class="names">
              ${waiting.slice(0, NAMES_SHOWN).map((r) => {
                const username = directory?.people.get(r.person)?.username;
                const name = personName(directory, r.person);
                return html`<li key=${r.person} data-person=${r.person}>
                  ${name} <span class=${`state state-${r.state}`}>${t(`console.state.${r.state}`)}</span>
                  ${username
                    ? html` <button
                        type="button"
                        class="call-person"
                        disabled=${inCall()}
                        aria-label=${t("console.detail.call", { name })}
                        onClick=${() => void placeCall(username, { label: name })}
                      >
                        ${t("console.detail.callShort")}
                      </button>`
                    : null}
                </li>`;
              })}
              ${waiting.length > NAMES_SHOWN ? html`<li class="muted">${t("console.preview.more", { n: waiting.length - NAMES_SHOWN })}</li>` : null}
            </ul>`
        : html`<p class="muted">${t("console.detail.allConfirmed")}</p>`}
    </section>

    <${Breakdown} inst=${inst} dir=${directory} receipts=${all} />
    <${Replies} inst=${inst} receipts=${all} />

    <section class="change" aria-labelledby="change-title">
      <h3 id="change-title">${t("console.detail.change")}</h3>
      <${Amend} inst=${inst} onDone=${(/** @type {string} */ text) => {
        setStatus({ ok: true, text });
        void reload();
      }} onError=${(/** @type {unknown} */ err) => setStatus({ ok: false, text: message(err) })} />
      <${Cancel} inst=${inst} onDone=${(/** @type {string} */ text) => setStatus({ ok: true, text })} onError=${(/** @type {unknown} */ err) => setStatus({ ok: false, text: message(err) })} />
      <button type="button" onClick=${csv}>${t("console.detail.csv")}</button>
    </section>
  </section>`;
}

/**
 * @param {{inst: Instruction, dir: ConsoleDirectory | null, receipts: Receipt[]}} props
 */
function Breakdown({ inst, dir, receipts }) {
  const [focus, setFocus] = useState(/** @type {string | null} */ (null));
  const perNode = inst.per_node ?? {};
  const known = Object.keys(perNode);
  /** @param {string} id */
  const parentOf = (id) => (id === NO_NODE ? null : (dir?.parent.get(id) ?? null));
  const children = known.filter((n) => parentOf(n) === focus && (focus !== null || !known.includes(String(parentOf(n)))));
  const people = focus === null ? [] : receipts.filter((r) => (r.grid ?? NO_NODE) === focus);
  /** @type {string[]} */
  const path = [];
  for (let cur = focus; cur; cur = parentOf(cur)) path.unshift(cur);
  /** @param {string} n */
  const label = (n) => (n === NO_NODE ? t("console.detail.noNode") : nodeName(dir, n));

  return html`<section class="breakdown" aria-labelledby="breakdown-title">
    <h3 id="breakdown-title">${t("console.detail.byNode")}</h3>
    <nav class="crumbs" aria-label=${t("console.detail.path")}>
      <button type="button" onClick=${() => setFocus(null)} aria-current=${focus === null ? "true" : undefined}>${t("console.detail.top")}</button>
      ${path.map(
        (n) => html`<span aria-hidden="true"> › </span><button type="button" onClick=${() => setFocus(n)} aria-current=${n === focus ? "true" : undefined}>${label(n)}</button>`,
      )}
    </nav>
    ${focus !== null && focus !== NO_NODE
      ? html`<button type="button" class="brief-node" disabled=${inCall()} onClick=${() => void startBriefing(focus, { label: label(focus) })}>
          ${t("console.detail.brief", { name: label(focus) })}
        </button>`
      : null}
    ${children.length
      ? html`<table class="node-table">
          <thead><tr><th scope="col">${t("console.detail.node")}</th><th scope="col">${t("console.state.acknowledged")}</th><th scope="col">${t("console.detail.share")}</th></tr></thead>
          <tbody>
            ${children.map((n) => {
              const c = perNode[n] ?? zeroCounts();
              const total = Object.values(c).reduce((a, b) => a + b, 0);
              const done = c.acknowledged + c.replied;
              const share = total ? Math.round((done / total) * 100) : 0;
              return html`<tr key=${n} data-node=${n}>
                <th scope="row"><button type="button" class="link" onClick=${() => setFocus(n)}>${label(n)}</button></th>
                <td><span data-node-count="acknowledged">${done}</span> / ${formatNumber(total)}</td>
                <td><span class="bar-track small" aria-hidden="true"><span class="bar-fill" style=${`width: ${share}%`}></span></span> ${share} %</td>
              </tr>`;
            })}
          </tbody>
        </table>`
      : null}
    ${people.length
      ? html`<ul class="names people">
          ${people.slice(0, NAMES_SHOWN * 4).map(
            (r) => html`<li key=${r.person} data-person=${r.person}>
              ${personName(dir, r.person)} <span class=${`state state-${r.state}`}>${t(`console.state.${r.state}`)}</span>
              ${r.reply ? html` <q>${r.reply}</q>` : null}
            </li>`,
          )}
        </ul>`
      : null}
  </section>`;
}

/** @param {{inst: Instruction, receipts: Receipt[]}} props */
function Replies({ inst, receipts }) {
  /** @type {Map<string, number>} */
  const by = new Map(inst.reply_options.map((o) => [o, 0]));
  for (const r of receipts) if (r.state === "replied" && r.reply) by.set(r.reply, (by.get(r.reply) ?? 0) + 1);
  if (!by.size) return null;
  return html`<section class="replies" aria-labelledby="replies-title">
    <h3 id="replies-title">${t("console.detail.replies")}</h3>
    <ul>
      ${[...by].map(([text, n]) => html`<li key=${text} data-reply=${text}><span class="reply-text">${text}</span> <strong data-reply-count>${n}</strong></li>`)}
    </ul>
  </section>`;
}

/** @param {{inst: Instruction, onDone: (text: string) => void, onError: (err: unknown) => void}} props */
function Amend({ inst, onDone, onError }) {
  const [text, setText] = useState(inst.text);
  useEffect(() => setText(inst.text), [inst.id, inst.amendments]);
  /** @param {Event} e */
  const submit = async (e) => {
    e.preventDefault();
    try {
      await api(`/api/instructions/${inst.id}/amend`, { method: "POST", body: { text } });
      onDone(t("console.detail.amendDone"));
    } catch (err) {
      onError(err);
    }
  };
  return html`<form class="amend" onSubmit=${submit}>
    <label class="field-label" for="amend-text">${t("console.detail.amendText")}</label>
    <textarea id="amend-text" rows="2" value=${text} disabled=${inst.cancelled} onInput=${(/** @type {Event} */ e) => setText(/** @type {HTMLTextAreaElement} */ (e.currentTarget).value)}></textarea>
    <button type="submit" disabled=${inst.cancelled || !text.trim() || text === inst.text}>${t("console.detail.amend")}</button>
  </form>`;
}

/** @param {{inst: Instruction, onDone: (text: string) => void, onError: (err: unknown) => void}} props */
function Cancel({ inst, onDone, onError }) {
  const [arming, setArming] = useState(false);
  useEffect(() => setArming(false), [inst.id]);
  if (inst.cancelled) return null;
  const go = async () => {
    try {
      await api(`/api/instructions/${inst.id}/cancel`, { method: "POST" });
      onDone(t("console.detail.cancelDone"));
    } catch (err) {
      onError(err);
    }
    setArming(false);
  };
  return arming
    ? html`<span class="confirm">
        <button type="button" class="danger" onClick=${go}>${t("console.detail.cancelNow")}</button>
        <button type="button" onClick=${() => setArming(false)}>${t("console.cancelNo")}</button>
      </span>`
    : html`<button type="button" class="danger-outline" onClick=${() => setArming(true)}>${t("console.detail.cancel")}</button>`;
}

// @ts-check
// The history of instructions, newest first, searchable, each row with its bars moving live.
// Hooks: `data-instruction="<id>"` on each row, `data-count="<state>"` inside it.
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { routeHref } from "../../hooks/use-route.js";
import { listError, loadInstructions, query, useInstructions } from "../../hooks/use-instructions.js";
import { formatDateTime, t } from "../../i18n.js";
import { ProgressBars } from "./progress-bars.js";

/** Wait this long after typing stops before searching. */
const SEARCH_DEBOUNCE_MS = 300;

/** @param {{selected: number | null}} props */
export function InstructionList({ selected }) {
  const list = useInstructions();
  const [text, setText] = useState(query.value);
  useEffect(() => {
    if (text === query.value) return;
    const timer = setTimeout(() => {
      query.value = text;
      void loadInstructions();
    }, SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [text]);

  return html`<section class="panel console-history" aria-labelledby="history-title">
    <h2 id="history-title">${t("console.history.title")}</h2>
    <label class="field-label" for="history-search">${t("console.history.search")}</label>
    <input
      id="history-search"
      type="search"
      value=${text}
      onInput=${(/** @type {Event} */ e) => setText(/** @type {HTMLInputElement} */ (e.currentTarget).value)}
    />
    ${listError.value ? html`<p class="form-error" role="alert">${listError.value}</p>` : null}
    ${list === null
      ? html`<p class="muted">…</p>`
      : list.length === 0
        ? html`<p class="muted">${t(query.value ? "console.history.noMatch" : "console.history.none")}</p>`
        : html`<ul class="instruction-list">
            ${list.map(
              (i) => html`<li
                key=${i.id}
                data-instruction=${i.id}
                class=${`instruction-row prio-${i.priority}${i.id === selected ? " selected" : ""}${i.cancelled ? " cancelled" : ""}`}
              >
                <a href=${routeHref("instructions", i.id)} aria-current=${i.id === selected ? "true" : undefined}>
                  <span class=${`badge prio-${i.priority}`}>${t(`console.priority.${i.priority}`)}</span>
                  ${i.cancelled ? html`<span class="badge cancelled">${t("console.detail.cancelled")}</span>` : null}
                  <span class="row-text">${i.text}</span>
                  <span class="console-meta">#${i.id} · ${formatDateTime(i.sent_at * 1000, { dateStyle: "short", timeStyle: "short" })} · ${i.sent_by}</span>
                </a>
                <${ProgressBars} perState=${i.per_state} total=${i.recipients} since=${i.since} compact=${true} />
              </li>`,
            )}
          </ul>`}
  </section>`;
}

// @ts-check
// An instruction's receipts as bars, one per step: sent, delivered, read, acknowledged, replied.
// Each bar counts the people who got at least that far (a reply is also an acknowledgement), so
// the bars only grow; `data-count="<state>"` holds each count for tests and outside tools.
import { html } from "htm/preact";
import { BARS, reached } from "../../hooks/use-instructions.js";
import { formatNumber, t } from "../../i18n.js";

/** @typedef {import("../../types/console").ReceiptState} ReceiptState */

/**
 * @param {{perState: Record<ReceiptState, number>, total: number, since?: {acknowledged: number, replied: number}, compact?: boolean}} props
 */
export function ProgressBars({ perState, total, since, compact = false }) {
  const counts = reached(perState, total, since);
  return html`<dl class=${compact ? "bars bars-compact" : "bars"}>
    ${BARS.map((state) => {
      const n = counts[state];
      const share = total ? Math.round((n / total) * 1000) / 10 : 0;
      return html`<div class=${`bar bar-${state}`}>
        <dt>${t(`console.state.${state}`)}</dt>
        <dd>
          <span class="bar-track" aria-hidden="true"><span class="bar-fill" style=${`width: ${share}%`}></span></span>
          <span class="bar-count"><span data-count=${state}>${n}</span><span class="bar-total"> / ${formatNumber(total)}</span></span>
        </dd>
      </div>`;
    })}
  </dl>`;
}

// @ts-check
// The hub's templates: fill the form from one, or send one again as it was saved (two clicks:
// "Send again", then "Send now"), or delete it.
import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { deleteTemplate, useConsoleTemplates } from "../../hooks/use-console-templates.js";
import { t } from "../../i18n.js";
import { sendInstruction } from "../../hooks/use-instructions.js";

/** @typedef {import("../../types/console").Template} Template */

/**
 * @param {{onLoad: (tpl: Template) => void, onSent: (id: number) => void, onError: (err: unknown) => void}} props
 */
export function TemplateList({ onLoad, onSent, onError }) {
  const list = useConsoleTemplates();
  const [arming, setArming] = useState(/** @type {number | null} */ (null));
  const [busy, setBusy] = useState(false);

  /** @param {Template} tpl */
  const sendNow = async (tpl) => {
    setBusy(true);
    try {
      const { text, priority, targets, reply_options, deadline_s } = tpl;
      onSent(await sendInstruction({ text, priority, targets, reply_options, deadline_s }));
      setArming(null);
    } catch (err) {
      onError(err);
    } finally {
      setBusy(false);
    }
  };

  return html`<section class="templates" aria-labelledby="templates-title">
    <h3 id="templates-title">${t("console.templates.title")}</h3>
    ${list === null
      ? html`<p class="muted">…</p>`
      : list.length === 0
        ? html`<p class="muted">${t("console.templates.none")}</p>`
        : html`<ul>
            ${list.map(
              (tpl) => html`<li key=${tpl.id} data-template=${tpl.id}>
                <span class="template-name">${tpl.name}</span>
                <span class="template-actions">
                  <button type="button" onClick=${() => onLoad(tpl)}>${t("console.templates.load")}</button>
                  ${arming === tpl.id
                    ? html`<button type="button" class="primary" disabled=${busy} onClick=${() => sendNow(tpl)}>
                          ${t("console.templates.sendNow")}
                        </button>
                        <button type="button" onClick=${() => setArming(null)}>${t("console.cancelNo")}</button>`
                    : html`<button type="button" onClick=${() => setArming(tpl.id)}>${t("console.templates.sendAgain")}</button>`}
                  <button
                    type="button"
                    aria-label=${t("console.templates.delete", { name: tpl.name })}
                    onClick=${() => void deleteTemplate(tpl.id).catch(onError)}
                  >
                    <span aria-hidden="true">×</span>
                  </button>
                </span>
              </li>`,
            )}
          </ul>`}
  </section>`;
}

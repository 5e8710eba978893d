// @ts-check
// The language switch: a labelled select that changes the language at once and remembers it.
import { html } from "htm/preact";
import { LANGUAGES, LANGUAGE_NAMES, lang, setLanguage, t } from "../i18n.js";

/** @typedef {import("../i18n.js").Lang} Lang */

/** @param {{id?: string}} props */
export function LanguageSwitch({ id = "language-switch" }) {
  /** @param {Event} e */
  const change = (e) => {
    const value = /** @type {HTMLSelectElement} */ (e.currentTarget).value;
    void setLanguage(/** @type {Lang} */ (value));
  };
  return html`<div class="language-switch">
    <label for=${id}>${t("common.language")}</label>
    <select id=${id} name="lang" value=${lang.value} onChange=${change}>
      ${LANGUAGES.map((l) => html`<option value=${l} lang=${l === "zh" ? "zh-CN" : l}>${LANGUAGE_NAMES[l]}</option>`)}
    </select>
  </div>`;
}

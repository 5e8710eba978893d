// @ts-check
// Named layouts, kept on the hub for the user: save the wall as it is under a name, load one, delete
// one. The wall as it is is saved by itself too, so the same wall comes back on any machine.
import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { Menu, closeMenu } from "../../components/wall/menu.js";
import { t } from "../../i18n.js";
import { NAME_MAX } from "./wall-model.js";

/** @typedef {import("./wall-model.js").NamedLayout} NamedLayout */

/**
 * @param {{saved: NamedLayout[], onSave: (name: string) => Promise<void>, onLoad: (name: string) => void,
 *   onRemove: (name: string) => Promise<void>}} props
 */
export function LayoutsMenu({ saved, onSave, onLoad, onRemove }) {
  const [name, setName] = useState("");
  const [note, setNote] = useState(/** @type {{text: string, error: boolean} | null} */ (null));

  /** @param {SubmitEvent} e */
  const submit = async (e) => {
    e.preventDefault();
    const clean = name.trim();
    if (!clean) return;
    try {
      await onSave(clean);
      setNote({ text: t("wall.layouts.saved", { name: clean }), error: false });
      setName("");
    } catch {
      setNote({ text: t("wall.layouts.failed"), error: true });
    }
  };
  /** @param {string} n */
  const remove = async (n) => {
    try {
      await onRemove(n);
      setNote({ text: t("wall.layouts.deleted", { name: n }), error: false });
    } catch {
      setNote({ text: t("wall.layouts.failed"), error: true });
    }
  };

  return html`<${Menu} class="layouts-menu" label=${t("wall.layouts.menu")}>
    <form class="menu-form" onSubmit=${submit} novalidate>
      <label for="layout-name">${t("wall.layouts.name")}</label>
      <div class="menu-row">
        <input id="layout-name" name="layout-name" maxlength=${NAME_MAX} required value=${name}
          onInput=${(/** @type {InputEvent} */ e) => setName(/** @type {HTMLInputElement} */ (e.currentTarget).value)} />
        <button type="submit" class="primary">${t("wall.layouts.save")}</button>
      </div>
    </form>
    <p class=${`menu-note${note?.error ? " form-error" : ""}`} role="status">${note?.text ?? ""}</p>
    ${saved.length
      ? html`<ul class="menu-list" aria-label=${t("wall.layouts.list")}>
          ${saved.map(
            (s) => html`<li data-layout=${s.name}>
              <span class="menu-item-name">${s.name}</span>
              <span class="menu-item-meta">${t("wall.layouts.tiles", { count: s.size })}</span>
              <button type="button" onClick=${(/** @type {Event} */ e) => {
                onLoad(s.name);
                setNote(null);
                closeMenu(e.currentTarget);
              }} aria-label=${t("wall.layouts.loadOne", { name: s.name })}>${t("wall.layouts.load")}</button>
              <button type="button" class="danger" onClick=${() => remove(s.name)}
                aria-label=${t("wall.layouts.deleteOne", { name: s.name })}>${t("wall.layouts.delete")}</button>
            </li>`,
          )}
        </ul>`
      : html`<p class="menu-empty">${t("wall.layouts.none")}</p>`}
  <//>`;
}

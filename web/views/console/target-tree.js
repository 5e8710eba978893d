// @ts-check
// The district tree with a checkbox on every node (checking a node reaches everyone at or below
// it, so its descendants show as included), branches that open and close, and a search that
// keeps the matching nodes and the way down to them.
import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { t } from "../../i18n.js";

/** @typedef {import("../../types/console").DirNode} DirNode */
/** @typedef {import("../../hooks/use-console-directory.js").ConsoleDirectory} ConsoleDirectory */

/** Levels open at first: the district and its streets. */
const OPEN_LEVELS = new Set(["district", "street"]);

/**
 * Ids of the nodes to show for a search (matches and their ancestors), or null for all.
 * @param {ConsoleDirectory} dir
 * @param {string} q
 */
function visibleFor(dir, q) {
  const needle = q.trim().toLowerCase();
  if (!needle) return null;
  const keep = new Set();
  for (const n of dir.nodes.values()) {
    if (n.name.toLowerCase().includes(needle) || n.id.toLowerCase().includes(needle)) {
      /** @type {string | null | undefined} */
      let cur = n.id;
      while (cur && !keep.has(cur)) {
        keep.add(cur);
        cur = dir.parent.get(cur);
      }
    }
  }
  return keep;
}

/**
 * @param {{dir: ConsoleDirectory, selected: Set<string>, onToggle: (id: string) => void}} props
 */
export function TargetTree({ dir, selected, onToggle }) {
  const [search, setSearch] = useState("");
  const [open, setOpen] = useState(
    () => new Set([...dir.nodes.values()].filter((n) => OPEN_LEVELS.has(n.level)).map((n) => n.id)),
  );
  const visible = visibleFor(dir, search);

  /** @param {string} id */
  const toggleOpen = (id) => {
    const next = new Set(open);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setOpen(next);
  };

  /**
   * @param {DirNode} n
   * @param {boolean} covered an ancestor is checked
   * @returns {import("preact").VNode | null}
   */
  const item = (n, covered) => {
    if (visible && !visible.has(n.id)) return null;
    const kids = (n.children ?? []).filter((c) => !visible || visible.has(c.id));
    const expanded = visible ? true : open.has(n.id);
    const checked = covered || selected.has(n.id);
    const cid = `tree-${n.id}`;
    return html`<li key=${n.id} data-node=${n.id}>
      <div class="tree-row">
        ${kids.length
          ? html`<button
              type="button"
              class="tree-toggle"
              aria-expanded=${expanded}
              aria-label=${t(expanded ? "console.tree.collapse" : "console.tree.expand", { name: n.name })}
              onClick=${() => toggleOpen(n.id)}
            >
              <span aria-hidden="true">${expanded ? "▾" : "▸"}</span>
            </button>`
          : html`<span class="tree-toggle-space" aria-hidden="true"></span>`}
        <input
          type="checkbox"
          id=${cid}
          checked=${checked}
          disabled=${covered}
          onChange=${() => onToggle(n.id)}
        />
        <label for=${cid}>${n.name} <span class="tree-level">${t(`console.level.${n.level}`)}</span></label>
      </div>
      ${kids.length && expanded ? html`<ul>${kids.map((/** @type {DirNode} */ c) => item(c, checked))}</ul>` : null}
    </li>`;
  };

  return html`<div class="target-tree">
    <label class="field-label" for="tree-search">${t("console.tree.search")}</label>
    <input
      id="tree-search"
      type="search"
      value=${search}
      placeholder=${t("console.tree.searchHint")}
      onInput=${(/** @type {Event} */ e) => setSearch(/** @type {HTMLInputElement} */ (e.currentTarget).value)}
    />
    ${dir.tree
      ? html`<ul class="tree" aria-label=${t("console.tree.label")}>${item(dir.tree, false)}</ul>`
      : html`<p class="muted">${t("console.tree.none")}</p>`}
    ${visible && visible.size === 0 ? html`<p class="muted">${t("console.tree.noMatch")}</p>` : null}
  </div>`;
}

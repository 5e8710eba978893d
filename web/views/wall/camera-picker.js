// @ts-check
// Choosing the camera of a tile: the district tree (street → community → grid → property) with the
// cameras placed in it (GET /api/directory), or a search by name or id. Picking puts the camera in
// the target tile and moves on to the next tile, so a wall is filled camera after camera.
import { html } from "htm/preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { Icon } from "../../components/wall/icons.js";
import { t } from "../../i18n.js";

/** @typedef {import("../../types/api").Camera} Camera */
/** @typedef {import("../../hooks/use-wall-directory.js").Directory} Directory */
/** @typedef {import("../../hooks/use-wall-directory.js").DirectoryNode} DirectoryNode */
/** @typedef {import("../../hooks/use-wall-directory.js").PlacedCamera} PlacedCamera */

/** Levels opened at first (the district down to its communities); deeper ones open on a click… */
const OPEN_LEVELS = new Set(["district", "street", "community"]);
/** …unless the district has this few cameras: then every branch is open. */
const ALL_OPEN_UP_TO = 24;

/**
 * @typedef {object} CameraPickerProps
 * @property {Directory | null} directory
 * @property {Camera[]} cameras What GET /api/cameras gives (state of each).
 * @property {number} target The tile (0-based) a pick goes to.
 * @property {Map<string, number>} onWall Camera id → its tile (0-based), for those on the wall.
 * @property {(id: string) => void} onPick
 * @property {() => void} onClose
 */

/** @param {CameraPickerProps} props */
export function CameraPicker({ directory, cameras, target, onWall, onPick, onClose }) {
  const [query, setQuery] = useState("");
  const search = useRef(/** @type {HTMLInputElement | null} */ (null));
  // Opened from the keyboard or a tile: straight to the search.
  useEffect(() => search.current?.focus(), []);
  const states = useMemo(() => new Map(cameras.map((c) => [c.id, c])), [cameras]);
  /** Every camera the user may see, placed where the directory says (else nowhere). */
  const placed = useMemo(() => {
    /** @type {Map<string, PlacedCamera>} */
    const all = new Map((directory?.cameras ?? []).map((c) => [c.id, c]));
    for (const c of cameras) if (!all.has(c.id)) all.set(c.id, { id: c.id, name: c.name, grid: c.grid, property: null });
    return [...all.values()];
  }, [directory, cameras]);
  /** node id → cameras placed right there. */
  const byNode = useMemo(() => {
    /** @type {Map<string, PlacedCamera[]>} */
    const m = new Map();
    for (const c of placed) {
      const at = c.property ?? c.grid ?? "";
      m.set(at, [...(m.get(at) ?? []), c]);
    }
    return m;
  }, [placed]);
  const inTree = useMemo(() => {
    const ids = new Set();
    /** @param {DirectoryNode} n */
    const walk = (n) => {
      ids.add(n.id);
      n.children.forEach(walk);
    };
    if (directory?.tree) walk(directory.tree);
    return ids;
  }, [directory]);

  /** @param {PlacedCamera} c */
  const item = (c) => {
    const tile = onWall.get(c.id);
    const state = states.get(c.id)?.state;
    return html`<li>
      <button type="button" class="pick-camera" data-pick=${c.id} onClick=${() => onPick(c.id)} aria-describedby="picker-target"
        title=${t("wall.picker.put", { name: c.name, tile: target + 1 })}>
        <span class=${`health-dot health-${state ?? "unknown"}`} aria-hidden="true"></span>
        <span class="pick-name">${c.name}</span>
        ${tile !== undefined && html`<span class="pick-where">${t("wall.picker.onTile", { tile: tile + 1 })}</span>`}
      </button>
    </li>`;
  };

  /** @param {DirectoryNode} n @returns {number} */
  const count = (n) => (byNode.get(n.id)?.length ?? 0) + n.children.reduce((s, c) => s + count(c), 0);
  /** @param {DirectoryNode} n @returns {any} */
  const branch = (n) => {
    const total = count(n);
    if (!total) return null;
    const here = byNode.get(n.id) ?? [];
    return html`<li>
      <details open=${OPEN_LEVELS.has(n.level) || placed.length <= ALL_OPEN_UP_TO}>
        <summary><span class="node-name">${n.name}</span> <span class="node-count">${total}</span></summary>
        <ul>
          ${n.children.map(branch)}
          ${here.map(item)}
        </ul>
      </details>
    </li>`;
  };

  const q = query.trim().toLowerCase();
  const found = q ? placed.filter((c) => c.name.toLowerCase().includes(q) || c.id.toLowerCase().includes(q)) : [];
  const unplaced = placed.filter((c) => !inTree.has(c.property ?? c.grid ?? ""));

  /** @param {KeyboardEvent} e */
  const onKey = (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      onClose();
    }
  };
  return html`<aside class="camera-picker" aria-labelledby="picker-title" onKeyDown=${onKey}>
    <div class="picker-head">
      <h3 id="picker-title">${t("wall.picker.title")}</h3>
      <button type="button" class="icon-button" onClick=${onClose} aria-label=${t("wall.picker.close")}>
        <${Icon} name="close" />
      </button>
    </div>
    <p class="picker-target" id="picker-target">${t("wall.picker.target", { tile: target + 1 })}</p>
    <label class="picker-search">
      <span>${t("wall.picker.search")}</span>
      <input ref=${search} type="search" name="camera-search" value=${query} placeholder=${t("wall.picker.searchHint")}
        onInput=${(/** @type {InputEvent} */ e) => setQuery(/** @type {HTMLInputElement} */ (e.currentTarget).value)} />
    </label>
    ${q
      ? html`<ul class="picker-list" aria-label=${t("wall.picker.results")}>
          ${found.length ? found.map(item) : html`<li class="picker-none">${t("wall.picker.none")}</li>`}
        </ul>`
      : html`<ul class="picker-tree" aria-label=${t("wall.picker.tree")}>
          ${directory?.tree ? branch(directory.tree) : null}
          ${unplaced.length > 0 &&
          html`<li>
            <details open>
              <summary><span class="node-name">${t("wall.picker.unplaced")}</span> <span class="node-count">${unplaced.length}</span></summary>
              <ul>${unplaced.map(item)}</ul>
            </details>
          </li>`}
        </ul>`}
  </aside>`;
}

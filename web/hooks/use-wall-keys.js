// @ts-check
// The wall's keyboard: number keys pick the layout (1, 4, 9, and 6 for 16), arrows move between
// tiles, Enter enlarges the tile in focus, Escape goes back, Space pauses the patrol tour, "?"
// shows the keys. Keys typed into a field, or pressed with Ctrl/Alt/Meta, are left alone, and so
// are Enter and Space on a button or link (they press it).
import { useLayoutEffect, useRef } from "preact/hooks";
import { moveIndex } from "../views/wall/wall-model.js";

/**
 * @typedef {object} WallKeyHandlers
 * @property {(size: number) => void} layout
 * @property {(tile: HTMLElement) => void} moved An arrow (or Home/End) moved the focus to this tile.
 * @property {(tile: HTMLElement) => void} enlarge Enter on a tile.
 * @property {() => boolean} back Escape; true when it did something.
 * @property {() => boolean} pause Space; true when it did something (a tour is on).
 * @property {() => void} help
 */

/** Number key → layout size. */
export const LAYOUT_KEYS = /** @type {Record<string, number>} */ ({ 1: 1, 4: 4, 9: 9, 6: 16 });
const MOVES = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End"]);

/**
 * The tile an arrow key leads to from `tile`, among the tiles beside it (the grid, the lane or the
 * overview), by their place on the screen (so one column on a phone, four on a 16-tile wall).
 * @param {HTMLElement} tile
 * @param {string} key
 */
function tileFrom(tile, key) {
  const tiles = /** @type {HTMLElement[]} */ ([...(tile.parentElement?.children ?? [])].filter((el) => el.classList.contains("wall-tile")));
  const top = tiles[0]?.offsetTop ?? 0;
  const cols = Math.max(1, tiles.filter((el) => el.offsetTop === top).length);
  return tiles[moveIndex(tiles.indexOf(tile), key, tiles.length, cols)] ?? null;
}

/** @param {EventTarget | null} target */
function typing(target) {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
}

/** @param {EventTarget | null} target */
function pressable(target) {
  return target instanceof HTMLElement && Boolean(target.closest("button, a[href], summary, [role=button]"));
}

/**
 * Listen for the wall's keys while the component is mounted.
 * @param {WallKeyHandlers} handlers
 */
export function useWallKeys(handlers) {
  const latest = useRef(handlers);
  latest.current = handlers;
  // Listening from the moment the wall is in the page (a layout effect runs before the browser
  // takes the next input), so a key pressed as soon as the wall shows is not lost.
  useLayoutEffect(() => {
    /** @param {KeyboardEvent} e */
    const onKey = (e) => {
      if (e.defaultPrevented || e.ctrlKey || e.altKey || e.metaKey || typing(e.target)) return;
      const h = latest.current;
      // Inside an open dialog only the dialog's own keys count.
      if (e.target instanceof HTMLElement && e.target.closest("dialog")) return;
      const tile = e.target instanceof HTMLElement ? /** @type {HTMLElement | null} */ (e.target.closest(".wall-tile")) : null;
      const onTile = tile !== null && e.target === tile;
      if (e.key in LAYOUT_KEYS) {
        h.layout(LAYOUT_KEYS[e.key]);
      } else if (e.key === "?") {
        h.help();
      } else if (MOVES.has(e.key) && onTile && tile) {
        const next = tileFrom(tile, e.key);
        if (next && next !== tile) {
          next.focus();
          h.moved(next);
        }
      } else if (e.key === "Enter" && onTile && tile) {
        h.enlarge(tile);
      } else if (e.key === "Escape") {
        if (!h.back()) return;
      } else if (e.key === " " && !pressable(e.target)) {
        if (!h.pause()) return;
      } else {
        return;
      }
      e.preventDefault();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);
}

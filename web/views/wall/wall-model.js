// @ts-check
// The wall's plain data and the rules on it (no DOM, no hub): layouts, slots, named layouts as
// saved in the user's preferences (`wall.layouts`), patrol tours (`wall.tours`) and their pages.

/** Tiles per layout: 1×1, 2×2, 3×3, 4×4. */
export const LAYOUTS = /** @type {const} */ ([1, 4, 9, 16]);
/** Live tiles at most; the rest of the wall shows snapshots. */
export const LIVE_MAX = 16;
/** Snapshot tiles in the overview beside the live tiles. */
export const OVERVIEW_MAX = 48;
/** Patrol interval bounds and default, in seconds. */
export const TOUR_MIN_S = 3;
export const TOUR_MAX_S = 3600;
export const TOUR_DEFAULT_S = 20;
export const LAYOUTS_PREF = "wall.layouts";
export const TOURS_PREF = "wall.tours";
/** Longest name of a saved layout or tour. */
export const NAME_MAX = 60;

/**
 * What the wall shows: how many live tiles, which camera in each (null: an empty tile; the whole
 * list null: the first cameras, until the user picks), and whether the snapshot overview is on.
 * @typedef {object} WallLayout
 * @property {number} size 1, 4, 9 or 16.
 * @property {Array<string | null> | null} slots Camera per tile (LIVE_MAX long), or null for "automatic".
 * @property {boolean} overview
 */
/** @typedef {WallLayout & {name: string}} NamedLayout */
/** @typedef {{current: WallLayout | null, saved: NamedLayout[]}} LayoutsPref */
/**
 * A patrol tour: cameras shown in turn, a layout's worth at a time, every `interval_s` seconds.
 * @typedef {{name: string, cameras: string[], interval_s: number}} Tour
 */

/** @type {WallLayout} */
export const DEFAULT_LAYOUT = { size: 4, slots: null, overview: false };

/**
 * A layout size from anything (the nearest allowed one).
 * @param {unknown} n
 */
export function layoutSize(n) {
  const v = Number(n);
  return LAYOUTS.find((s) => s >= v) ?? LIVE_MAX;
}

/**
 * A layout as saved, checked (a preference is any JSON: an older or hand-made one must not break the wall).
 * @param {unknown} raw
 * @returns {WallLayout}
 */
export function layoutOf(raw) {
  if (!raw || typeof raw !== "object") return { ...DEFAULT_LAYOUT };
  const r = /** @type {Record<string, unknown>} */ (raw);
  const given = Array.isArray(r.slots) ? /** @type {unknown[]} */ (r.slots) : null;
  const slots = given ? Array.from({ length: LIVE_MAX }, (_, i) => (typeof given[i] === "string" ? String(given[i]) : null)) : null;
  return { size: layoutSize(r.size), slots, overview: r.overview === true };
}

/**
 * The `wall.layouts` preference, checked.
 * @param {unknown} raw
 * @returns {LayoutsPref}
 */
export function layoutsPrefOf(raw) {
  const r = raw && typeof raw === "object" ? /** @type {Record<string, unknown>} */ (raw) : {};
  const saved = Array.isArray(r.saved)
    ? r.saved
        .filter((s) => s && typeof s === "object" && typeof s.name === "string" && s.name.trim())
        .map((s) => ({ ...layoutOf(s), name: String(s.name).slice(0, NAME_MAX) }))
    : [];
  return { current: r.current ? layoutOf(r.current) : null, saved };
}

/**
 * The `wall.tours` preference, checked.
 * @param {unknown} raw
 * @returns {Tour[]}
 */
export function toursOf(raw) {
  if (!Array.isArray(raw)) return [];
  return raw
    .filter((t) => t && typeof t === "object" && typeof t.name === "string" && Array.isArray(t.cameras))
    .map((t) => ({
      name: String(t.name).slice(0, NAME_MAX),
      cameras: t.cameras.filter((/** @type {unknown} */ c) => typeof c === "string"),
      interval_s: Math.min(TOUR_MAX_S, Math.max(TOUR_MIN_S, Number(t.interval_s) || TOUR_DEFAULT_S)),
    }));
}

/**
 * The camera of every tile (LIVE_MAX long): the layout's own, or the first cameras when automatic.
 * @param {WallLayout} layout
 * @param {string[]} cameraIds Every camera, in the hub's order.
 * @returns {Array<string | null>}
 */
export function slotsOf(layout, cameraIds) {
  if (layout.slots) return layout.slots;
  return Array.from({ length: LIVE_MAX }, (_, i) => cameraIds[i] ?? null);
}

/**
 * Put a camera in a tile. A camera is on the wall once: if it was in another tile, the two swap.
 * @param {Array<string | null>} slots
 * @param {number} index
 * @param {string | null} camera
 * @returns {Array<string | null>}
 */
export function assignSlot(slots, index, camera) {
  const next = [...slots];
  const was = camera === null ? -1 : next.indexOf(camera);
  if (was >= 0 && was !== index) next[was] = next[index];
  next[index] = camera;
  return next;
}

/**
 * Which cameras go to the snapshot overview: those not in a live tile, in the hub's order.
 * @param {string[]} cameraIds
 * @param {Set<string>} live
 */
export function overviewOf(cameraIds, live) {
  return cameraIds.filter((id) => !live.has(id)).slice(0, OVERVIEW_MAX);
}

/**
 * How many pages a tour has at a layout size.
 * @param {Tour} tour
 * @param {number} size
 */
export function tourPages(tour, size) {
  return Math.max(1, Math.ceil(tour.cameras.length / size));
}

/**
 * The cameras of a tour's page `step` (wrapping around), one per tile.
 * @param {Tour} tour
 * @param {number} size
 * @param {number} step
 * @returns {Array<string | null>}
 */
export function tourSlots(tour, size, step) {
  const page = ((step % tourPages(tour, size)) + tourPages(tour, size)) % tourPages(tour, size);
  return Array.from({ length: LIVE_MAX }, (_, i) => (i < size ? (tour.cameras[page * size + i] ?? null) : null));
}

/**
 * The tile to go to from `index` with an arrow key, in a grid of `count` tiles and `cols` columns.
 * @param {number} index
 * @param {string} key ArrowLeft, ArrowRight, ArrowUp, ArrowDown, Home, End.
 * @param {number} count
 * @param {number} cols
 */
export function moveIndex(index, key, count, cols) {
  if (count <= 0) return 0;
  let i = index;
  if (key === "ArrowRight") i += 1;
  else if (key === "ArrowLeft") i -= 1;
  else if (key === "ArrowDown") i += cols;
  else if (key === "ArrowUp") i -= cols;
  else if (key === "Home") i = 0;
  else if (key === "End") i = count - 1;
  return Math.min(count - 1, Math.max(0, i));
}

// @ts-check
// The wall's layout (size, camera per tile, overview on or off) and the user's named layouts, kept
// on the hub in the `wall.layouts` preference: the wall as it is follows the user to any machine
// (saved a moment after each change), and named layouts are saved, loaded and deleted by name.
import { useEffect, useRef, useState } from "preact/hooks";
import { prefs, savePref, usePref } from "./use-prefs.js";
import { DEFAULT_LAYOUT, LAYOUTS_PREF, NAME_MAX, layoutsPrefOf } from "../views/wall/wall-model.js";

/** @typedef {import("../views/wall/wall-model.js").WallLayout} WallLayout */
/** @typedef {import("../views/wall/wall-model.js").NamedLayout} NamedLayout */

/** The wall as it is is saved this long after its last change (one save for a burst of changes). */
export const SAVE_DELAY_MS = 800;

/**
 * @typedef {object} WallLayoutState
 * @property {WallLayout} layout The wall now.
 * @property {boolean} ready The saved wall is known (or there is none).
 * @property {NamedLayout[]} saved Named layouts, as saved.
 * @property {(change: Partial<WallLayout>) => void} change Change the wall (saved shortly after).
 * @property {(name: string, slots: Array<string | null>) => Promise<void>} saveAs Save the wall, with the
 *   cameras it shows in its tiles, under a name (replacing one of that name).
 * @property {(name: string) => void} load Show a named layout.
 * @property {(name: string) => Promise<void>} remove Delete a named layout.
 */

/** @returns {WallLayoutState} */
export function useWallLayout() {
  const pref = usePref(LAYOUTS_PREF, /** @type {unknown} */ (null));
  const stored = layoutsPrefOf(pref.value);
  const [layout, setLayout] = useState(/** @type {WallLayout | null} */ (null));
  const timer = useRef(/** @type {ReturnType<typeof setTimeout> | undefined} */ (undefined));
  /** The newest wall, for the delayed save. */
  const latest = useRef(/** @type {WallLayout | null} */ (null));

  // The saved wall is taken once, when the preferences arrive (unless the user changed it already).
  useEffect(() => {
    if (pref.loaded && layout === null) setLayout(stored.current ?? { ...DEFAULT_LAYOUT });
  }, [pref.loaded]);

  const flush = () => {
    clearTimeout(timer.current);
    timer.current = undefined;
    const current = latest.current;
    if (!current) return Promise.resolve();
    // Read the stored named layouts at save time: another save may have changed them meanwhile.
    return savePref(LAYOUTS_PREF, { ...layoutsPrefOf(prefs.value?.[LAYOUTS_PREF]), current }).catch(() => {});
  };
  // Leaving the wall: save at once what is still waiting.
  useEffect(
    () => () => {
      if (timer.current !== undefined) void flush();
    },
    [],
  );

  const now = layout ?? stored.current ?? DEFAULT_LAYOUT;

  /** @param {WallLayout} next */
  const show = (next) => {
    latest.current = next;
    setLayout(next);
    clearTimeout(timer.current);
    timer.current = setTimeout(flush, SAVE_DELAY_MS);
  };

  return {
    layout: now,
    ready: pref.loaded,
    saved: stored.saved,
    change: (c) => show({ ...now, ...c }),
    saveAs: async (name, slots) => {
      const clean = name.trim().slice(0, NAME_MAX);
      if (!clean) return;
      const shown = { ...now, slots };
      const { saved: known } = layoutsPrefOf(prefs.value?.[LAYOUTS_PREF]);
      const others = known.filter((s) => s.name !== clean);
      const saved = [...others, { ...shown, name: clean }].sort((a, b) => a.name.localeCompare(b.name));
      clearTimeout(timer.current);
      timer.current = undefined;
      latest.current = shown;
      setLayout(shown);
      await savePref(LAYOUTS_PREF, { current: shown, saved });
    },
    load: (name) => {
      const found = stored.saved.find((s) => s.name === name);
      if (found) show({ size: found.size, slots: found.slots, overview: found.overview });
    },
    remove: async (name) => {
      const { saved } = layoutsPrefOf(prefs.value?.[LAYOUTS_PREF]);
      clearTimeout(timer.current);
      timer.current = undefined;
      await savePref(LAYOUTS_PREF, { current: now, saved: saved.filter((s) => s.name !== name) });
    },
  };
}

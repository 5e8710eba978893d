// @ts-check
// The user's patrol tours, kept on the hub in the `wall.tours` preference (so they follow the user
// to any machine): read, saved (a new one, or one changed, renamed) and deleted.
import { savePref, usePref } from "./use-prefs.js";
import { TOURS_PREF, toursOf } from "../views/wall/wall-model.js";

/** @typedef {import("../views/wall/wall-model.js").Tour} Tour */

/**
 * @typedef {object} WallTours
 * @property {Tour[]} tours By name.
 * @property {(tour: Tour, was: Tour | null) => Promise<void>} save Save `tour` (in place of `was`).
 * @property {(tour: Tour) => Promise<void>} remove
 */

/** @returns {WallTours} */
export function useWallTours() {
  const pref = usePref(TOURS_PREF, /** @type {unknown} */ ([]));
  const tours = toursOf(pref.value);
  return {
    tours,
    save: async (tour, was) => {
      const others = tours.filter((x) => x.name !== was?.name && x.name !== tour.name);
      await savePref(TOURS_PREF, [...others, tour].sort((a, b) => a.name.localeCompare(b.name)));
    },
    remove: async (tour) => {
      await savePref(TOURS_PREF, tours.filter((x) => x.name !== tour.name));
    },
  };
}

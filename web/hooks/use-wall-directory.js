// @ts-check
// The district tree and where each camera stands in it (GET /api/directory), for picking cameras
// by place: loaded once per page and shared.
import { signal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { api } from "../api/client.js";

/**
 * A node of the district tree: district → street → community → grid → property.
 * @typedef {object} DirectoryNode
 * @property {string} id
 * @property {string} name
 * @property {string} level
 * @property {DirectoryNode[]} children
 */
/** @typedef {{id: string, name: string, grid: string | null, property: string | null}} PlacedCamera */
/** @typedef {{tree: DirectoryNode | null, cameras: PlacedCamera[]}} Directory */

const directory = signal(/** @type {Directory | null} */ (null));
/** @type {Promise<void> | null} */
let loading = null;

function load() {
  if (!loading) {
    loading = api("/api/directory")
      .then((/** @type {Directory} */ d) => {
        directory.value = { tree: d.tree ?? null, cameras: d.cameras ?? [] };
      })
      .catch(() => {
        loading = null; // asked again by the next component that needs it
      });
  }
  return loading;
}

/** The district tree and camera placements (null until loaded). */
export function useWallDirectory() {
  useEffect(() => {
    void load();
  }, []);
  return directory.value;
}

// @ts-check
// The district map's data: GET /api/map (the tree's outlines, the cameras' places, the on-duty
// people's last positions, the district's own tile server if any) and the tree itself
// (GET /api/directory: names and parents of the nodes without an outline too). People's positions
// then follow the live feed (`person.position` events).
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api/client.js";
import { useEventHandler } from "./use-events.js";

/**
 * @typedef {object} NodeProps
 * @property {string} id
 * @property {string} name
 * @property {string} level
 * @property {string | null} parent
 */
/** @typedef {import("geojson").Feature<import("geojson").Polygon, NodeProps>} NodeFeature */
/**
 * @typedef {object} CameraProps
 * @property {string} id
 * @property {string} name
 * @property {string | null} grid
 * @property {string | null} property
 * @property {"exact" | "area"} placed
 */
/** @typedef {import("geojson").Feature<import("geojson").Point, CameraProps>} CameraFeature */
/**
 * @typedef {object} PersonPosition
 * @property {string} person
 * @property {string} name
 * @property {string[]} grids
 * @property {number} lat
 * @property {number} lon
 * @property {number | null} accuracy_m
 * @property {number} at Unix seconds.
 */
/**
 * @typedef {object} MapTiles
 * @property {string} url
 * @property {string | null} attribution
 * @property {number} max_zoom
 */
/**
 * @typedef {object} DistrictMap
 * @property {MapTiles | null} tiles
 * @property {number} [max_zoom]
 * @property {{type: "FeatureCollection", features: NodeFeature[]}} nodes
 * @property {{type: "FeatureCollection", features: CameraFeature[]}} cameras
 * @property {PersonPosition[]} people
 */
/**
 * @typedef {object} TreeNode
 * @property {string} id
 * @property {string} name
 * @property {string} level
 * @property {TreeNode[]} [children]
 */
/** @typedef {import("../types/api").HubEvent} HubEvent */

/**
 * @typedef {object} MapData
 * @property {DistrictMap | null} data Null until loaded.
 * @property {TreeNode | null} tree The district tree (null when the hub did not give it).
 * @property {unknown} error The last loading error, until a load works.
 * @property {() => void} reload
 */

/** @returns {MapData} */
export function useMapData() {
  const [data, setDataState] = useState(/** @type {DistrictMap | null} */ (null));
  /** The newest data, for events that come before the next render. */
  const latest = useRef(/** @type {DistrictMap | null} */ (null));
  /** @param {DistrictMap} next */
  const setData = (next) => {
    latest.current = next;
    setDataState(next);
  };
  const [tree, setTree] = useState(/** @type {TreeNode | null} */ (null));
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const alive = useRef(true);
  /** People whose position came in but who are not on the map (off duty): not asked about again. */
  const notShown = useRef(new Set());
  const loading = useRef(false);

  const load = async () => {
    if (loading.current) return;
    loading.current = true;
    try {
      const [map, directory] = await Promise.all([
        api("/api/map"),
        api("/api/directory").catch(() => null), // names of unoutlined nodes: nice to have
      ]);
      if (!alive.current) return;
      /** @type {DistrictMap} */
      const got = map;
      for (const p of got.people) notShown.current.delete(p.person);
      setData(got);
      if (directory?.tree) setTree(directory.tree);
      setError(null);
    } catch (err) {
      if (alive.current) setError(err);
    } finally {
      loading.current = false;
    }
  };

  useEffect(() => {
    alive.current = true;
    void load();
    return () => {
      alive.current = false;
    };
  }, []);

  useEventHandler("person.position", (/** @type {HubEvent[]} */ events) => {
    const data = latest.current;
    if (!data) return;
    let unknown = false;
    /** @type {Map<string, PersonPosition>} */
    const people = new Map(data.people.map((p) => [p.person, p]));
    for (const ev of events) {
      const d = /** @type {Partial<PersonPosition>} */ (ev.data);
      if (!d.person || typeof d.lat !== "number" || typeof d.lon !== "number") continue;
      const known = people.get(d.person);
      const at = d.at ?? Date.now() / 1000;
      if (known) {
        // The feed may replay reports older than the map's answer: keep the newest.
        if (at >= known.at) people.set(d.person, { ...known, lat: d.lat, lon: d.lon, accuracy_m: d.accuracy_m ?? null, at });
      } else if (!notShown.current.has(d.person)) {
        unknown = true; // a name and grids are needed: ask the hub (once per person)
        notShown.current.add(d.person);
      }
    }
    setData({ ...data, people: [...people.values()] });
    if (unknown) void load();
  });

  return { data, tree, error, reload: () => void load() };
}

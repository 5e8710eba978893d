// @ts-check
// The district tree as the incident desk names places: GET /api/directory once per page (a
// worker gets their grids' branch), as a map of nodes by id and a list in tree order with depths
// (for a place filter), and the people (for names).
import { signal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { api } from "../api/client.js";

/**
 * @typedef {object} TreeNode
 * @property {string} id
 * @property {string} name
 * @property {string} level district, street, community, grid, property.
 * @property {string | null} leader
 * @property {string[]} neighbours
 * @property {TreeNode[]} children
 */

/**
 * @typedef {object} Place
 * @property {string} id
 * @property {string} name
 * @property {string} level
 * @property {number} depth 0 for the district.
 * @property {string | null} parent
 */

/**
 * @typedef {object} Person
 * @property {string} id
 * @property {string} name
 * @property {string[]} roles
 * @property {string[]} grids
 * @property {boolean} on_duty
 */

/**
 * @typedef {object} Places
 * @property {Map<string, Place>} nodes
 * @property {Place[]} ordered The tree in order, parents before children.
 * @property {Map<string, Person>} people
 */

const places = signal(/** @type {Places | null} */ (null));
/** @type {Promise<void> | null} */
let loading = null;

/** @param {{tree: TreeNode | null, people: Person[]}} dir */
function index(dir) {
  /** @type {Place[]} */
  const ordered = [];
  /** @param {TreeNode} n @param {number} depth @param {string | null} parent */
  const walk = (n, depth, parent) => {
    ordered.push({ id: n.id, name: n.name, level: n.level, depth, parent });
    for (const c of n.children) walk(c, depth + 1, n.id);
  };
  if (dir.tree) walk(dir.tree, 0, null);
  return {
    nodes: new Map(ordered.map((p) => [p.id, p])),
    ordered,
    people: new Map(dir.people.map((p) => [p.id, p])),
  };
}

function load() {
  loading ??= api("/api/directory").then(
    (dir) => {
      places.value = index(dir);
    },
    () => {
      loading = null; // tried again by the next component that asks
    },
  );
  return loading;
}

/** The places (null until known). */
export function usePlaces() {
  useEffect(() => {
    if (!places.value) void load();
  }, []);
  return places.value;
}

/**
 * A node's name, or its id when unknown.
 * @param {Places | null} p
 * @param {string | null | undefined} id
 */
export function placeName(p, id) {
  if (!id) return "";
  return p?.nodes.get(id)?.name ?? id;
}

/**
 * A person's name, or their id when unknown.
 * @param {Places | null} p
 * @param {string | null | undefined} id
 */
export function personName(p, id) {
  if (!id) return "";
  return p?.people.get(id)?.name ?? id;
}

// @ts-check
// The district tree and its people for the console (GET /api/directory, once per page).
import { signal } from "@preact/signals";
import { api } from "../api/client.js";

/** @typedef {import("../types/console").DirNode} DirNode */
/** @typedef {import("../types/console").DirPerson} DirPerson */

/**
 * @typedef {object} ConsoleDirectory
 * @property {DirNode | null} tree
 * @property {Map<string, DirNode>} nodes Every node by id.
 * @property {Map<string, string | null>} parent Each node's parent id.
 * @property {Map<string, DirPerson>} people Every person by id.
 */

const directory = signal(/** @type {ConsoleDirectory | null} */ (null));
const failed = signal(/** @type {string | null} */ (null));
let started = false;

/** @param {{tree: DirNode | null, people: DirPerson[]}} body @returns {ConsoleDirectory} */
export function buildDirectory(body) {
  /** @type {Map<string, DirNode>} */
  const nodes = new Map();
  /** @type {Map<string, string | null>} */
  const parent = new Map();
  /** @param {DirNode} n @param {string | null} up */
  const walk = (n, up) => {
    nodes.set(n.id, n);
    parent.set(n.id, up);
    for (const c of n.children ?? []) walk(c, n.id);
  };
  if (body.tree) walk(body.tree, null);
  return { tree: body.tree, nodes, parent, people: new Map(body.people.map((p) => [p.id, p])) };
}

function load() {
  if (started) return;
  started = true;
  api("/api/directory")
    .then((body) => {
      directory.value = buildDirectory(body);
    })
    .catch((/** @type {Error} */ err) => {
      started = false;
      failed.value = err.message;
    });
}

/** The directory once loaded (null before), and the error of a failed load. */
export function useConsoleDirectory() {
  load();
  return { directory: directory.value, error: failed.value };
}

/**
 * A person's name, or their id when unknown.
 * @param {ConsoleDirectory | null} dir
 * @param {string} id
 */
export function personName(dir, id) {
  return dir?.people.get(id)?.name ?? id;
}

/**
 * A node's name, or its id.
 * @param {ConsoleDirectory | null} dir
 * @param {string} id
 */
export function nodeName(dir, id) {
  return dir?.nodes.get(id)?.name ?? id;
}

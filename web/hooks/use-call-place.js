// @ts-check
// The place a briefing addresses, for its panel: the names of the people on duty there (the hub's
// call lists logins) and the cameras placed under it (any can be shown to the group). Asked for
// once per node.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api/client.js";

/**
 * @typedef {object} CallPlace
 * @property {Map<string, string>} names Login → the person's name.
 * @property {{id: string, name: string}[]} cameras Cameras at or under the node.
 */

/** @type {CallPlace} */
const NOTHING = { names: new Map(), cameras: [] };

/**
 * @param {string | null} node A node of the district tree, or null (nothing to ask).
 * @returns {CallPlace}
 */
export function useCallPlace(node) {
  const [place, setPlace] = useState(NOTHING);
  useEffect(() => {
    setPlace(NOTHING);
    if (!node) return undefined;
    let gone = false;
    const at = encodeURIComponent(node);
    /** @type {Promise<{name: string, username?: string | null}[]>} */
    const people = api(`/api/directory/nodes/${at}/members`).catch(() => []);
    /** @type {Promise<{id: string, name: string}[]>} */
    const cameras = api(`/api/directory/nodes/${at}/cameras`).catch(() => []);
    Promise.all([people, cameras]).then(([people, cameras]) => {
      if (gone) return;
      const names = new Map(people.filter((p) => p.username).map((p) => [/** @type {string} */ (p.username), p.name]));
      setPlace({ names, cameras: cameras.map((c) => ({ id: c.id, name: c.name })) });
    });
    return () => {
      gone = true;
    };
  }, [node]);
  return place;
}

// @ts-check
// The district tree as the map needs it: which outlines to draw at a level of the drill-down
// (district → street → community → grid → property), the path up to the district for the
// breadcrumb, which things lie under a node, and where an incident goes on the map.
// Pure functions, no Leaflet.

/** @typedef {import("../../hooks/use-map-data.js").DistrictMap} DistrictMap */
/** @typedef {import("../../hooks/use-map-data.js").TreeNode} TreeNode */
/** @typedef {import("../../hooks/use-map-data.js").NodeFeature} NodeFeature */
/** @typedef {import("../../hooks/use-map-incidents.js").MapIncident} MapIncident */

/**
 * @typedef {object} MapNode
 * @property {string} id
 * @property {string} name
 * @property {string} level district | street | community | grid | property
 * @property {string | null} parent
 * @property {string[]} children
 * @property {Array<[number, number]> | null} ring The outline as [lat, lon] points, or null.
 */

/**
 * @typedef {object} MapModel
 * @property {Map<string, MapNode>} nodes Every node known, by id.
 * @property {string | null} root The district.
 */

/** A [lat, lon] point. @typedef {[number, number]} LatLon */

/**
 * The tree with the outlines on it. `tree` (GET /api/directory) names every node, the ones
 * without an outline too; without it, the outlines' own `parent` properties make the tree.
 * @param {DistrictMap} data
 * @param {TreeNode | null} tree
 * @returns {MapModel}
 */
export function buildModel(data, tree) {
  /** @type {Map<string, MapNode>} */
  const nodes = new Map();
  /** @type {string | null} */
  let root = null;
  if (tree) {
    /** @param {TreeNode} n @param {string | null} parent */
    const walk = (n, parent) => {
      const children = n.children ?? [];
      nodes.set(n.id, { id: n.id, name: n.name, level: n.level, parent, children: children.map((c) => c.id), ring: null });
      for (const c of children) walk(c, n.id);
    };
    walk(tree, null);
    root = tree.id;
  }
  for (const f of data.nodes.features) {
    const p = f.properties;
    const ring = /** @type {LatLon[]} */ ((f.geometry.coordinates[0] ?? []).map(([lon, lat]) => [lat, lon]));
    const known = nodes.get(p.id);
    if (known) known.ring = ring;
    else nodes.set(p.id, { id: p.id, name: p.name, level: p.level, parent: p.parent, children: [], ring });
  }
  if (!tree) {
    for (const n of nodes.values()) {
      const parent = n.parent ? nodes.get(n.parent) : undefined;
      if (parent) parent.children.push(n.id);
      else n.parent = null;
    }
    const tops = [...nodes.values()].filter((n) => n.parent === null);
    root = tops.find((n) => n.level === "district")?.id ?? tops[0]?.id ?? null;
  }
  return { nodes, root };
}

/**
 * The nodes a click on the map goes down to from `focus`: each child that has an outline, else
 * the nearest of its descendants that have one.
 * @param {MapModel} model
 * @param {string} focus
 * @returns {MapNode[]}
 */
export function regionsOf(model, focus) {
  /** @type {MapNode[]} */
  const out = [];
  /** @param {string} id */
  const down = (id) => {
    for (const c of model.nodes.get(id)?.children ?? []) {
      const child = model.nodes.get(c);
      if (!child) continue;
      if (child.ring) out.push(child);
      else down(c);
    }
  };
  down(focus);
  return out;
}

/**
 * The outlined nodes under `focus` that are not its regions: drawn faintly (grids always show),
 * properties only once their grid is the focus.
 * @param {MapModel} model
 * @param {string} focus
 * @returns {MapNode[]}
 */
export function innerOutlinesOf(model, focus) {
  const regions = new Set(regionsOf(model, focus).map((n) => n.id));
  return [...subtree(model, focus)]
    .filter((id) => id !== focus && !regions.has(id))
    .map((id) => /** @type {MapNode} */ (model.nodes.get(id)))
    .filter((n) => n.ring && n.level !== "property");
}

/**
 * The ids of `id` and every node below it.
 * @param {MapModel} model
 * @param {string} id
 * @returns {Set<string>}
 */
export function subtree(model, id) {
  const out = new Set([id]);
  const stack = [id];
  while (stack.length) {
    const n = model.nodes.get(/** @type {string} */ (stack.pop()));
    for (const c of n?.children ?? []) {
      if (!out.has(c)) {
        out.add(c);
        stack.push(c);
      }
    }
  }
  return out;
}

/**
 * The nodes from the district down to `id` (the breadcrumb).
 * @param {MapModel} model
 * @param {string} id
 * @returns {MapNode[]}
 */
export function pathTo(model, id) {
  /** @type {MapNode[]} */
  const out = [];
  let n = model.nodes.get(id);
  while (n && out.length < 16) {
    out.unshift(n);
    n = n.parent ? model.nodes.get(n.parent) : undefined;
  }
  return out;
}

/**
 * The middle of an outline (area-weighted; the points' average for a degenerate one).
 * @param {LatLon[]} ring
 * @returns {LatLon}
 */
export function centreOf(ring) {
  const pts = ring.length > 1 && ring[0][0] === ring[ring.length - 1][0] && ring[0][1] === ring[ring.length - 1][1]
    ? ring.slice(0, -1)
    : ring;
  let area = 0;
  let lat = 0;
  let lon = 0;
  for (let i = 0; i < pts.length; i++) {
    const [y0, x0] = pts[i];
    const [y1, x1] = pts[(i + 1) % pts.length];
    const cross = x0 * y1 - x1 * y0;
    area += cross;
    lon += (x0 + x1) * cross;
    lat += (y0 + y1) * cross;
  }
  if (Math.abs(area) < 1e-12) {
    return [pts.reduce((s, p) => s + p[0], 0) / pts.length, pts.reduce((s, p) => s + p[1], 0) / pts.length];
  }
  return [lat / (3 * area), lon / (3 * area)];
}

/**
 * Where an incident goes: its own coordinates, else its camera's place, else the middle of its
 * node's outline (or of the nearest outlined node above it). Null when none is known.
 * @param {MapIncident} incident
 * @param {MapModel} model
 * @param {Map<string, LatLon>} cameraPlaces
 * @returns {{at: LatLon, by: "exact" | "camera" | "area"} | null}
 */
export function placeIncident(incident, model, cameraPlaces) {
  if (typeof incident.lat === "number" && typeof incident.lon === "number") {
    return { at: [incident.lat, incident.lon], by: "exact" };
  }
  const cam = incident.camera ? cameraPlaces.get(incident.camera) : undefined;
  if (cam) return { at: cam, by: "camera" };
  const candidates = [incident.node, incident.grid, ...[...(incident.path ?? [])].reverse()];
  for (const id of candidates) {
    if (!id) continue;
    // The node itself, else up its parents.
    for (const n of pathTo(model, id).reverse()) {
      if (n.ring) return { at: centreOf(n.ring), by: "area" };
    }
  }
  return null;
}

/**
 * Whether a point lies inside an outline (even-odd rule).
 * @param {LatLon} point
 * @param {LatLon[]} ring
 */
export function inRing([lat, lon], ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [yi, xi] = ring[i];
    const [yj, xj] = ring[j];
    if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/**
 * @typedef {object} Focus
 * @property {Set<string>} nodes The focused node and every node below it.
 * @property {LatLon[] | null} ring Its outline, if it has one.
 */

/**
 * Whether a thing is under the focus: placed on one of its nodes, or standing inside its outline.
 * @param {Array<string | null | undefined>} ids The nodes the thing is placed on.
 * @param {LatLon | null | undefined} at Where it is on the map.
 * @param {Focus | null} focus Null: everything is within.
 */
export function isWithin(ids, at, focus) {
  if (!focus) return true;
  if (ids.some((id) => Boolean(id) && focus.nodes.has(/** @type {string} */ (id)))) return true;
  return Boolean(at && focus.ring && inRing(at, focus.ring));
}

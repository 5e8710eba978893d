// @ts-check
// What the map and the list beside it show, made from the hub's answers: the cameras (placed ones
// first, with their state and alert), the open incidents where they belong, the workers with how
// long ago they reported. Marks for the map are plain data (compared to skip needless updates).
import { formatDateTime, formatNumber, formatRelative, t } from "../../i18n.js";
import { isWithin, placeIncident } from "./map-tree.js";

/** @typedef {import("./map-tree.js").LatLon} LatLon */
/** @typedef {import("./map-tree.js").MapModel} MapModel */
/** @typedef {import("./map-tree.js").Focus} Focus */
/** @typedef {import("../../hooks/use-map-data.js").DistrictMap} DistrictMap */
/** @typedef {import("../../hooks/use-map-alerts.js").OpenAlerts} OpenAlerts */
/** @typedef {import("../../hooks/use-map-incidents.js").MapIncident} MapIncident */
/** @typedef {import("../../types/api").Camera} Camera */
/** @typedef {{id: string, name: string, grid: string | null, property: string | null}} CameraEntry */

/** A position older than this is drawn faded. */
export const STALE_AFTER_MS = 30 * 60_000;

/**
 * Camera id → its place on the map.
 * @param {DistrictMap | null} data
 */
export function cameraPlaces(data) {
  /** @type {Map<string, LatLon>} */
  const m = new Map();
  for (const f of data?.cameras.features ?? []) m.set(f.properties.id, [f.geometry.coordinates[1], f.geometry.coordinates[0]]);
  return m;
}

/**
 * The cameras placed on the map, then those the hub lists without a place.
 * @param {DistrictMap | null} data
 * @param {Camera[] | null} cams
 * @param {Map<string, LatLon>} places
 * @returns {CameraEntry[]}
 */
export function cameraEntries(data, cams, places) {
  return [
    ...(data?.cameras.features ?? []).map((f) => ({ id: f.properties.id, name: f.properties.name, grid: f.properties.grid, property: f.properties.property })),
    ...(cams ?? []).filter((c) => !places.has(c.id)).map((c) => ({ id: c.id, name: c.name || c.id, grid: c.grid, property: null })),
  ];
}

/**
 * @param {CameraEntry[]} entries
 * @param {{places: Map<string, LatLon>, cams: Camera[] | null, alerts: OpenAlerts, selected: string | null, within: Focus | null}} ctx
 */
export function cameraItems(entries, { places, cams, alerts, selected, within }) {
  const stateOf = new Map((cams ?? []).map((c) => [c.id, c.state]));
  const marks = entries
    .filter((c) => places.has(c.id))
    .map((c) => {
      const state = stateOf.get(c.id);
      return {
        id: c.id,
        name: c.name,
        at: /** @type {LatLon} */ (places.get(c.id)),
        alert: alerts.has(c.id),
        down: state !== undefined && state !== "online" && state !== "remote",
        selected: selected === c.id,
      };
    });
  const listed = entries
    .filter((c) => isWithin([c.grid, c.property], places.get(c.id), within))
    .map((c) => {
      const state = stateOf.get(c.id);
      return {
        id: c.id,
        name: c.name,
        state: state ? t(`common.cameraState.${state}`) : "",
        alert: alerts.has(c.id),
        placed: places.has(c.id),
        selected: selected === c.id,
      };
    });
  return { marks, listed };
}

/**
 * Open incidents: placed at their own point, else their camera, else their node's outline.
 * @param {MapIncident[] | null} incidents
 * @param {{model: MapModel | null, places: Map<string, LatLon>, within: Focus | null, now: number}} ctx
 */
export function incidentItems(incidents, { model, places, within, now }) {
  const placed = (incidents ?? []).map((i) => ({ i, place: model ? placeIncident(i, model, places) : null }));
  /** @param {MapIncident} i @param {string} when */
  const detail = (i, when) =>
    t("map.incidents.detail", { severity: t(`map.severity.${i.severity}`), state: t(`map.state.${i.state}`), when });
  const marks = placed
    .filter((p) => p.place)
    .map(({ i, place }) => ({
      id: i.id,
      title: i.title,
      severity: i.severity,
      // A popup's text changes with the incident, not with the clock (it may be open, in use).
      detail: detail(i, formatDateTime(i.created_at * 1000, { dateStyle: "short", timeStyle: "short" })),
      link: t("map.incidents.open"),
      at: /** @type {LatLon} */ (place?.at),
    }));
  const listed =
    incidents === null
      ? null
      : placed
          .filter(({ i, place }) => isWithin([i.node, i.grid, ...(i.path ?? [])], place?.at, within))
          .map(({ i, place }) => ({
            id: i.id,
            title: i.title,
            severity: i.severity,
            detail: detail(i, formatRelative(i.created_at * 1000, now)),
            placed: Boolean(place),
          }));
  return { marks, listed };
}

/**
 * Workers' last reported positions.
 * @param {DistrictMap | null} data
 * @param {{within: Focus | null, now: number}} ctx
 */
export function personItems(data, { within, now }) {
  const people = data?.people ?? [];
  const marks = people.map((p) => ({
    id: p.person,
    name: p.name,
    ago: formatRelative(p.at * 1000, now),
    at: /** @type {LatLon} */ ([p.lat, p.lon]),
    stale: now - p.at * 1000 > STALE_AFTER_MS,
  }));
  const listed = people
    .filter((p) => isWithin(p.grids, [p.lat, p.lon], within))
    .map((p) => ({
      id: p.person,
      name: p.name,
      ago: formatRelative(p.at * 1000, now),
      accuracy: p.accuracy_m != null ? t("map.people.accuracy", { metres: formatNumber(Math.round(p.accuracy_m)) }) : "",
    }));
  return { marks, listed };
}

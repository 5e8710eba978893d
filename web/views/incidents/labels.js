// @ts-check
// How the incident desk names things: states, severities, sources, categories, events, places.
import { t } from "../../i18n.js";

/** @typedef {import("../../hooks/use-incidents.js").Incident} Incident */
/** @typedef {import("../../types/api").Camera} Camera */

/** The zone id of a camera's whole picture (a camera without zones): no place within it to name. */
const WHOLE_FRAME_ZONE = "frame";

/** The zone of a camera incident worth naming, or "". @param {Incident} inc */
export const zoneOf = (inc) => (inc.zone && inc.zone !== WHOLE_FRAME_ZONE ? inc.zone : "");

/** Categories the hub's own analysis uses (other categories are shown as they are written). */
const KNOWN_CATEGORIES = ["motion", "intrusion", "loitering", "crowd", "line_crossing", "tamper"];

/** @param {string} state */
export const stateLabel = (state) => t(`incidents.state.${state}`);
/** @param {string} severity */
export const severityLabel = (severity) => t(`incidents.severity.${severity}`);
/** @param {string} source */
export const sourceLabel = (source) => t(`incidents.source.${source}`);

/** @param {string} category */
export function categoryLabel(category) {
  if (KNOWN_CATEGORIES.includes(category)) return t(`incidents.category.${category}`);
  const words = category.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * The incident's title: a camera's incident is named from its kind and camera in the reader's
 * language (the hub writes it in English); others keep the title they were given.
 * @param {Incident} inc
 * @param {Camera[] | null} cameras
 */
export function incidentTitle(inc, cameras) {
  if (inc.source !== "camera" || !inc.camera) return inc.title;
  const camera = cameras?.find((c) => c.id === inc.camera)?.name || inc.camera;
  const zone = zoneOf(inc);
  const params = { kind: categoryLabel(inc.category), camera, zone };
  return zone ? t("incidents.cameraTitleZone", params) : t("incidents.cameraTitle", params);
}

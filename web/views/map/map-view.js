// @ts-check
// The district map (#/map, #/map/<node>): the tree's outlines with a drill-down from the district
// to a grid, the cameras (lit red while an alert is open; a click opens the live view), the open
// incidents and the on-duty workers' last positions, all following the live feed; a list of the
// same things beside the map for the keyboard, a legend, and a breadcrumb back up.
import { html } from "htm/preact";
import { useMemo, useState } from "preact/hooks";
import { HttpError } from "../../api/client.js";
import { useCameras } from "../../hooks/use-cameras.js";
import { useMapAlerts } from "../../hooks/use-map-alerts.js";
import { useMapClock } from "../../hooks/use-map-clock.js";
import { useMapData } from "../../hooks/use-map-data.js";
import { useMapIncidents } from "../../hooks/use-map-incidents.js";
import { navigate, useRoute } from "../../hooks/use-route.js";
import { formatDateTime, formatNumber, formatRelative, t } from "../../i18n.js";
import { MapBreadcrumb } from "./map-breadcrumb.js";
import { CameraPanel } from "./map-camera-panel.js";
import { MapCanvas } from "./map-canvas.js";
import { MapLegend } from "./map-legend.js";
import { MapSide } from "./map-side.js";
import { buildModel, isWithin, pathTo, placeIncident, regionsOf, subtree } from "./map-tree.js";

/** @typedef {import("./map-tree.js").LatLon} LatLon */
/** @typedef {import("./map-canvas.js").Reveal} Reveal */

/** A position older than this is drawn faded. */
const STALE_AFTER_MS = 30 * 60_000;

export function MapView() {
  const route = useRoute();
  const { data, tree, error, reload } = useMapData();
  const { incidents, error: incidentsError } = useMapIncidents();
  const alerts = useMapAlerts();
  const cams = useCameras();
  const now = useMapClock();
  const [selected, setSelected] = useState(/** @type {string | null} */ (null));
  const [reveal, setReveal] = useState(/** @type {Reveal | null} */ (null));

  const model = useMemo(() => (data ? buildModel(data, tree) : null), [data?.nodes, tree]);
  const root = model?.root ?? null;
  const asked = route.params[0];
  const focus = asked && model?.nodes.has(asked) ? asked : root;
  const within = useMemo(
    () => (model && focus && focus !== root ? { nodes: subtree(model, focus), ring: model.nodes.get(focus)?.ring ?? null } : null),
    [model, focus, root],
  );
  const regions = useMemo(() => (model && focus ? regionsOf(model, focus) : []), [model, focus]);
  const path = model && focus ? pathTo(model, focus) : [];
  const nameOf = (/** @type {string | null | undefined} */ id) => (id && model?.nodes.get(id)?.name) || id || "";

  /** Camera id → its place on the map. */
  const places = useMemo(() => {
    /** @type {Map<string, LatLon>} */
    const m = new Map();
    for (const f of data?.cameras.features ?? []) m.set(f.properties.id, [f.geometry.coordinates[1], f.geometry.coordinates[0]]);
    return m;
  }, [data?.cameras]);

  // Cameras: those placed on the map, then those the hub lists without a place.
  const stateOf = new Map((cams ?? []).map((c) => [c.id, c]));
  const cameraList = [
    ...(data?.cameras.features ?? []).map((f) => ({ id: f.properties.id, name: f.properties.name, grid: f.properties.grid, property: f.properties.property })),
    ...(cams ?? []).filter((c) => !places.has(c.id)).map((c) => ({ id: c.id, name: c.name || c.id, grid: c.grid, property: null })),
  ];
  const cameraMarks = useMemo(
    () =>
      cameraList
        .filter((c) => places.has(c.id))
        .map((c) => ({
          id: c.id,
          name: c.name,
          at: /** @type {LatLon} */ (places.get(c.id)),
          alert: alerts.has(c.id),
          down: Boolean(stateOf.get(c.id)) && stateOf.get(c.id)?.state !== "online" && stateOf.get(c.id)?.state !== "remote",
          selected: selected === c.id,
        })),
    [data?.cameras, cams, alerts, selected],
  );
  const sideCameras = cameraList
    .filter((c) => isWithin([c.grid, c.property], places.get(c.id), within))
    .map((c) => {
      const cam = stateOf.get(c.id);
      return {
        id: c.id,
        name: c.name,
        state: cam ? t(`common.cameraState.${cam.state}`) : "",
        alert: alerts.has(c.id),
        placed: places.has(c.id),
        selected: selected === c.id,
      };
    });

  // Incidents: placed at their own point, else their camera, else their node's outline.
  const placedIncidents = useMemo(
    () => (incidents ?? []).map((i) => ({ incident: i, place: model ? placeIncident(i, model, places) : null })),
    [incidents, model, places],
  );
  const detailOf = (/** @type {import("../../hooks/use-map-incidents.js").MapIncident} */ i) =>
    t("map.incidents.detail", {
      severity: t(`map.severity.${i.severity}`),
      state: t(`map.state.${i.state}`),
      when: formatRelative(i.created_at * 1000, now),
    });
  const incidentMarks = placedIncidents
    .filter((p) => p.place)
    .map(({ incident: i, place }) => ({
      id: i.id,
      title: i.title,
      severity: i.severity,
      // A popup's text changes with the incident, not with the clock (it may be open, in use).
      detail: t("map.incidents.detail", {
        severity: t(`map.severity.${i.severity}`),
        state: t(`map.state.${i.state}`),
        when: formatDateTime(i.created_at * 1000, { dateStyle: "short", timeStyle: "short" }),
      }),
      link: t("map.incidents.open"),
      at: /** @type {LatLon} */ (place?.at),
    }));
  const sideIncidents =
    incidents === null
      ? null
      : placedIncidents
          .filter(({ incident: i, place }) => isWithin([i.node, i.grid, ...(i.path ?? [])], place?.at, within))
          .map(({ incident: i, place }) => ({ id: i.id, title: i.title, severity: i.severity, detail: detailOf(i), placed: Boolean(place) }));

  // Workers: their last reported positions.
  const people = data?.people ?? [];
  const personMarks = people.map((p) => ({
    id: p.person,
    label: t("map.people.seen", { name: p.name, ago: formatRelative(p.at * 1000, now) }),
    at: /** @type {LatLon} */ ([p.lat, p.lon]),
    stale: now - p.at * 1000 > STALE_AFTER_MS,
  }));
  const sidePeople = people
    .filter((p) => isWithin(p.grids, [p.lat, p.lon], within))
    .map((p) => ({
      id: p.person,
      name: p.name,
      ago: formatRelative(p.at * 1000, now),
      accuracy: p.accuracy_m != null ? t("map.people.accuracy", { metres: formatNumber(Math.round(p.accuracy_m)) }) : "",
    }));

  const openCamera = (/** @type {string} */ id) => {
    setSelected(id);
    if (places.has(id)) setReveal({ kind: "camera", id, n: Date.now() });
  };
  const chosen = selected ? cameraList.find((c) => c.id === selected) : undefined;

  let problem = null;
  if (error && !data) {
    const detail = error instanceof HttpError ? error.detail : String(error);
    problem = html`<div class="map-problem" role="alert">
      <p>${t("map.error", { detail })}</p>
      <button type="button" onClick=${reload}>${t("map.retry")}</button>
    </div>`;
  }

  return html`<section class="view view-map" aria-labelledby="view-title">
    <div class="map-head">
      <h2 id="view-title">${t("desk.map.title")}</h2>
      <${MapBreadcrumb} path=${path} root=${root} />
    </div>
    ${problem}
    ${data && !data.nodes.features.length && html`<p class="map-muted">${t("map.noOutlines")}</p>`}
    <div class="map-layout">
      <div class="map-main">
        <${MapCanvas}
          model=${model}
          focus=${focus}
          onDrill=${(/** @type {string} */ id) => navigate("map", id)}
          tiles=${data?.tiles ?? null}
          maxZoom=${data?.tiles?.max_zoom ?? data?.max_zoom ?? 19}
          cameras=${cameraMarks}
          people=${personMarks}
          incidents=${incidentMarks}
          onCamera=${openCamera}
          reveal=${reveal}
        />
        ${!data && !problem && html`<p class="map-loading" role="status">${t("map.loading")}</p>`}
        <p id="map-keys" class="map-muted map-keys">${t("map.keys")}</p>
        <${MapLegend} />
      </div>
      <aside class="map-side" aria-label=${t("map.side")}>
        ${chosen &&
        html`<${CameraPanel}
          id=${chosen.id}
          name=${chosen.name}
          camera=${cams === null ? undefined : (stateOf.get(chosen.id) ?? null)}
          alert=${alerts.has(chosen.id)}
          where=${nameOf(chosen.grid)}
          onClose=${() => setSelected(null)}
        />`}
        <${MapSide}
          regions=${regions}
          cameras=${sideCameras}
          incidents=${sideIncidents}
          incidentsFailed=${Boolean(incidentsError) && incidents === null}
          people=${sidePeople}
          onCamera=${openCamera}
          onReveal=${(/** @type {Reveal["kind"]} */ kind, /** @type {string} */ id) => setReveal({ kind, id, n: Date.now() })}
        />
      </aside>
    </div>
  </section>`;
}

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
import { t } from "../../i18n.js";
import { MapBreadcrumb } from "./map-breadcrumb.js";
import { CameraPanel } from "./map-camera-panel.js";
import { MapCanvas } from "./map-canvas.js";
import { MapLegend } from "./map-legend.js";
import { MapSide } from "./map-side.js";
import { cameraEntries, cameraItems, cameraPlaces, incidentItems, personItems } from "./map-items.js";
import { buildModel, pathTo, regionsOf, subtree } from "./map-tree.js";

/** @typedef {import("./map-canvas.js").Reveal} Reveal */

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

  const places = useMemo(() => cameraPlaces(data), [data?.cameras]);
  const entries = cameraEntries(data, cams, places);
  const cameras = cameraItems(entries, { places, cams, alerts, selected, within });
  const incidentsShown = incidentItems(incidents, { model, places, within, now });
  const people = personItems(data, { within, now });

  const openCamera = (/** @type {string} */ id) => {
    setSelected(id);
    if (places.has(id)) setReveal({ kind: "camera", id, n: Date.now() });
  };
  const chosen = selected ? entries.find((c) => c.id === selected) : undefined;

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
          cameras=${cameras.marks}
          people=${people.marks}
          incidents=${incidentsShown.marks}
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
          camera=${cams === null ? undefined : (cams.find((c) => c.id === chosen.id) ?? null)}
          alert=${alerts.has(chosen.id)}
          where=${nameOf(chosen.grid)}
          onClose=${() => setSelected(null)}
        />`}
        <${MapSide}
          regions=${regions}
          cameras=${cameras.listed}
          incidents=${incidentsShown.listed}
          incidentsFailed=${Boolean(incidentsError) && incidents === null}
          people=${people.listed}
          onCamera=${openCamera}
          onReveal=${(/** @type {Reveal["kind"]} */ kind, /** @type {string} */ id) => setReveal({ kind, id, n: Date.now() })}
        />
      </aside>
    </div>
  </section>`;
}

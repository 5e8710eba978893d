// @ts-check
// The Leaflet map itself: the focused node's outline, the regions a click drills into, the grids
// below them, and the cameras, open incidents and workers as markers kept in step with the props.
// The container is focusable (Leaflet: arrow keys pan, + and - zoom) and carries `data-map`.
import { html } from "htm/preact";
import * as L from "leaflet";
import { useEffect, useRef } from "preact/hooks";
import { useLeafletMap } from "../../hooks/use-map-leaflet.js";
import { t } from "../../i18n.js";
import { placeLabels } from "./map-labels.js";
import { cameraPin, decorate, moveTo, outline, pin, PIN_SIZE, syncMarkers, textElement } from "./map-layers.js";
import { innerOutlinesOf, regionsOf } from "./map-tree.js";

/** @typedef {import("./map-tree.js").MapModel} MapModel */
/** @typedef {import("./map-tree.js").LatLon} LatLon */
/** @typedef {import("../../hooks/use-map-data.js").MapTiles} MapTiles */

/**
 * @typedef {object} CameraMark
 * @property {string} id
 * @property {string} name
 * @property {LatLon} at
 * @property {boolean} alert An alert is open on it.
 * @property {boolean} down Not online.
 * @property {boolean} selected Its live view is open.
 */
/**
 * @typedef {object} PersonMark
 * @property {string} id
 * @property {string} name
 * @property {string} ago How long ago they reported.
 * @property {LatLon} at
 * @property {boolean} stale Not heard from for a while.
 */
/**
 * @typedef {object} IncidentMark
 * @property {number} id
 * @property {string} title
 * @property {string} severity
 * @property {string} detail Severity, state, how long ago.
 * @property {string} link The link's text.
 * @property {LatLon} at
 */
/** @typedef {{kind: "camera" | "incident" | "person", id: string, n: number}} Reveal */

/**
 * @typedef {object} MapCanvasProps
 * @property {MapModel | null} model
 * @property {string | null} focus
 * @property {(id: string) => void} onDrill A region was clicked.
 * @property {MapTiles | null} tiles
 * @property {number} maxZoom
 * @property {CameraMark[]} cameras
 * @property {PersonMark[]} people
 * @property {IncidentMark[]} incidents
 * @property {(id: string) => void} onCamera A camera was clicked.
 * @property {Reveal | null} reveal Pan to this (and open an incident's popup).
 */

const LABEL_PANE = "mapLabels";
const reducedMotion = () => matchMedia("(prefers-reduced-motion: reduce)").matches;

/** @param {MapCanvasProps} props */
export function MapCanvas(props) {
  const { model, focus, tiles, maxZoom, cameras, people, incidents, reveal } = props;
  const box = useRef(/** @type {HTMLDivElement | null} */ (null));
  const map = useLeafletMap(box, { maxZoom, zoomInTitle: t("map.zoomIn"), zoomOutTitle: t("map.zoomOut") });
  const handlers = useRef(props);
  handlers.current = props;
  const layers = useRef(/** @type {Record<string, L.LayerGroup> | null} */ (null));
  const stores = useRef({
    cameras: /** @type {Map<string, L.Marker>} */ (new Map()),
    incidents: /** @type {Map<string, L.Marker>} */ (new Map()),
    people: /** @type {Map<string, L.Marker>} */ (new Map()),
  });
  const fitted = useRef(/** @type {string | null} */ (null));

  /** Nothing outlined to zoom to (a district without `area`s): show where the cameras and people are. */
  const fitToMarkers = () => {
    const s = stores.current;
    if (!map || fitted.current !== null || model === null || hasOutlines(model)) return;
    const markers = [...s.cameras.values(), ...s.people.values()];
    if (!markers.length) return;
    fitted.current = "";
    fit(map, [], markers);
  };

  // The layer groups, bottom to top.
  useEffect(() => {
    if (!map) return;
    // Names (areas, workers) under the markers: a label never hides a camera or an incident.
    const labels = map.createPane(LABEL_PANE);
    labels.style.zIndex = "550";
    labels.style.pointerEvents = "none";
    layers.current = {
      outlines: L.layerGroup().addTo(map),
      people: L.layerGroup().addTo(map),
      cameras: L.layerGroup().addTo(map),
      incidents: L.layerGroup().addTo(map),
    };
  }, [map]);

  // A district's own tile server, with its attribution.
  useEffect(() => {
    if (!map || !tiles) return undefined;
    const layer = L.tileLayer(tiles.url, { attribution: tiles.attribution ?? "", maxZoom: tiles.max_zoom }).addTo(map);
    const credit = L.control.attribution({ position: "bottomright" }).addTo(map);
    return () => {
      layer.remove();
      credit.remove();
    };
  }, [map, tiles?.url, tiles?.attribution]);

  // Outlines: the focus, its regions (clickable, labelled), the grids further down.
  useEffect(() => {
    const group = layers.current?.outlines;
    if (!map || !group || !model || !focus) return;
    group.clearLayers();
    const node = model.nodes.get(focus);
    /** @type {L.Polygon[]} */
    const drawn = [];
    for (const n of innerOutlinesOf(model, focus)) drawn.push(outline(n, "inner"));
    for (const n of regionsOf(model, focus)) {
      const p = outline(n, "region");
      p.on("click", () => handlers.current.onDrill(n.id));
      drawn.push(p);
      // The name inside the top edge, clear of what stands in the middle.
      const top = p.getBounds();
      L.tooltip({ permanent: true, direction: "bottom", offset: [0, 2], className: "map-label", opacity: 1, pane: LABEL_PANE })
        .setLatLng([top.getNorth(), top.getCenter().lng])
        .setContent(n.name)
        .addTo(group);
    }
    if (node?.ring) drawn.unshift(outline(node, "focus"));
    for (const p of drawn) p.addTo(group);
    if (fitted.current !== focus && drawn.length) {
      fitted.current = focus;
      fit(map, drawn, []);
    }
  }, [map, model, focus]);

  // Cameras: lit while an alert is open, dimmed while not online.
  useEffect(() => {
    const group = layers.current?.cameras;
    if (!group) return;
    syncMarkers(
      group,
      stores.current.cameras,
      cameras,
      (c) => c.id,
      (c) => {
        const m = cameraPin(c.at);
        m.on("click", () => handlers.current.onCamera(c.id));
        return m;
      },
      (m, c) => {
        moveTo(m, c.at);
        m.unbindTooltip().bindTooltip(c.name, { direction: "top", offset: [0, -14], className: "map-tip" });
        decorate(m, {
          attrs: { "data-camera": c.id, "data-alert": String(c.alert) },
          classes: { "is-alert": c.alert, "is-down": c.down, "is-selected": c.selected },
        });
      },
    );
    fitToMarkers();
  }, [map, cameras]);

  // Workers' last positions, named, with how long ago: two short lines on the side of the mark
  // where they are whole (see map-labels.js).
  useEffect(() => {
    const group = layers.current?.people;
    if (!group) return;
    syncMarkers(
      group,
      stores.current.people,
      people,
      (p) => p.id,
      (p) => pin(p.at, "person"),
      (m, p) => {
        moveTo(m, p.at);
        const body = document.createElement("span");
        body.className = "map-person-label";
        body.dataset.labelFor = p.id;
        body.append(textElement("span", "map-person-name", p.name), textElement("span", "map-person-ago", p.ago));
        const tip = m.getTooltip();
        if (tip) tip.setContent(body);
        else m.bindTooltip(body, { permanent: true, direction: "right", pane: LABEL_PANE, className: "map-tip map-tip-person" });
        decorate(m, {
          attrs: { "data-person": p.id, "data-lat": String(p.at[0]), "data-lon": String(p.at[1]) },
          classes: { "is-stale": p.stale },
        });
      },
    );
    fitToMarkers();
  }, [map, people]);

  // Open incidents: a popup with the title and a link to the incident.
  useEffect(() => {
    const group = layers.current?.incidents;
    if (!group) return;
    syncMarkers(
      group,
      stores.current.incidents,
      incidents,
      (i) => String(i.id),
      (i) => pin(i.at, "incident", "!"),
      (m, i) => {
        moveTo(m, i.at);
        const body = document.createElement("div");
        body.className = "map-popup";
        body.append(textElement("p", "map-popup-title", `#${i.id} ${i.title}`), textElement("p", "map-popup-detail", i.detail));
        const link = textElement("a", "map-popup-link", i.link);
        link.setAttribute("href", `#/incidents/${i.id}`);
        body.append(link);
        if (m.getPopup()) m.setPopupContent(body);
        else m.bindPopup(body, { className: "map-popup-box", maxWidth: 280 });
        m.unbindTooltip().bindTooltip(`#${i.id} ${i.title}`, { direction: "top", offset: [0, -10], className: "map-tip" });
        decorate(m, {
          attrs: { "data-incident": String(i.id), "data-severity": i.severity },
          classes: { [`sev-${i.severity}`]: true },
        });
      },
    );
  }, [map, incidents]);

  // Workers' labels where they can be read whole, whenever the marks or the view change.
  useEffect(() => {
    if (!map) return undefined;
    const place = () => {
      const s = stores.current;
      placeLabels(map, [...s.people.values()], [...s.cameras.values(), ...s.incidents.values()], PIN_SIZE.person);
    };
    place();
    map.on("zoomend moveend resize", place);
    return () => {
      map.off("zoomend moveend resize", place);
    };
  }, [map, people, cameras, incidents]);

  // "Show on the map" from the list beside it.
  useEffect(() => {
    if (!map || !reveal) return;
    const store = stores.current[reveal.kind === "camera" ? "cameras" : reveal.kind === "incident" ? "incidents" : "people"];
    const marker = store.get(reveal.id);
    if (!marker) return;
    const at = marker.getLatLng();
    if (!map.getBounds().pad(-0.1).contains(at)) map.panTo(at, { animate: !reducedMotion() });
    if (reveal.kind === "incident") marker.openPopup();
  }, [map, reveal]);

  return html`<div
    ref=${box}
    class="map-canvas"
    data-map
    role="region"
    aria-label=${t("map.label")}
    aria-describedby="map-keys"
  ></div>`;
}

/** @param {MapModel} model */
const hasOutlines = (model) => [...model.nodes.values()].some((n) => n.ring);

/** The fit each map still has to make once it stops moving (the latest asked for only). */
const fitsAfterMove = /** @type {WeakMap<L.Map, () => void>} */ (new WeakMap());

/**
 * Zoom to what is drawn: the outlines, else the markers. The map's box carries `data-moving` from
 * here until the map is at rest; a fit asked for meanwhile (a region clicked while the map still
 * zooms to the last one) waits for that, as Leaflet ignores a zoom asked for during its animation.
 * @param {L.Map} map
 * @param {L.Polygon[]} outlines
 * @param {L.Marker[]} markers
 */
function fit(map, outlines, markers) {
  const bounds = L.latLngBounds([]);
  for (const p of outlines) bounds.extend(p.getBounds());
  if (!bounds.isValid()) for (const m of markers) bounds.extend(m.getLatLng());
  if (!bounds.isValid()) return;
  const box = map.getContainer();
  if (box.dataset.moving !== undefined) {
    fitsAfterMove.set(map, () => fit(map, outlines, markers));
    return;
  }
  box.dataset.moving = "";
  // Every way fitBounds goes (animated or not, moving or not) ends with "moveend".
  map.once("moveend", () => {
    delete box.dataset.moving;
    const next = fitsAfterMove.get(map);
    fitsAfterMove.delete(map);
    next?.();
  });
  map.fitBounds(bounds, { padding: [28, 28], maxZoom: 18, animate: !reducedMotion() && map.getZoom() !== undefined });
}

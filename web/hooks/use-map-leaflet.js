// @ts-check
// A Leaflet map on an element: Leaflet's stylesheet put in the page once (before the page's own
// map.css, which restyles it for the dark desk), the map made when it has loaded, told when its
// box changes size, and removed on unmount. No tiles: a plain ground unless the district has a
// tile server of its own (the caller adds it).
import * as L from "leaflet";
import { useEffect, useState } from "preact/hooks";

/** @type {Promise<void> | null} */
let cssReady = null;

/** Put Leaflet's stylesheet in the page (once); resolves when it has loaded (or failed). */
export function leafletStylesheet() {
  if (!cssReady) {
    cssReady = new Promise((resolve) => {
      const href = import.meta.resolve("leaflet/dist/leaflet.css");
      const link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = href;
      link.addEventListener("load", () => resolve());
      link.addEventListener("error", () => resolve()); // the map still works, only less styled
      // Before the page's map.css, so that the desk's restyling wins at equal specificity.
      const ours = document.querySelector('link[rel="stylesheet"][href$="/styles/map.css"]');
      if (ours) ours.before(link);
      else document.head.prepend(link);
    });
  }
  return cssReady;
}

/**
 * @typedef {object} LeafletOptions
 * @property {number} [maxZoom]
 * @property {string} zoomInTitle Accessible name of the zoom-in button.
 * @property {string} zoomOutTitle Accessible name of the zoom-out button.
 */

/**
 * The Leaflet map on `ref`'s element (null until made).
 * @param {{current: HTMLElement | null}} ref
 * @param {LeafletOptions} options
 * @returns {L.Map | null}
 */
export function useLeafletMap(ref, options) {
  const [map, setMap] = useState(/** @type {L.Map | null} */ (null));
  const { maxZoom = 19, zoomInTitle, zoomOutTitle } = options;

  useEffect(() => {
    let alive = true;
    /** @type {L.Map | null} */
    let made = null;
    /** @type {ResizeObserver | null} */
    let resize = null;
    void leafletStylesheet().then(() => {
      const el = ref.current;
      if (!alive || !el) return;
      made = L.map(el, {
        zoomControl: false,
        attributionControl: false,
        zoomSnap: 0.25,
        zoomDelta: 0.5,
        minZoom: 3,
        maxZoom,
        worldCopyJump: false,
      });
      made.setView([0, 0], 3); // a view at once (layers wait for one); the caller fits it to the district
      L.control.zoom({ position: "topright", zoomInTitle, zoomOutTitle }).addTo(made);
      const m = made;
      resize = new ResizeObserver(() => m.invalidateSize({ pan: false }));
      resize.observe(el);
      setMap(m);
    });
    return () => {
      alive = false;
      resize?.disconnect();
      made?.remove();
    };
  }, []);

  // The zoom buttons' names follow the language.
  useEffect(() => {
    const el = map?.getContainer();
    if (!el) return;
    for (const [cls, title] of [
      [".leaflet-control-zoom-in", zoomInTitle],
      [".leaflet-control-zoom-out", zoomOutTitle],
    ]) {
      const button = el.querySelector(cls);
      button?.setAttribute("title", title);
      button?.setAttribute("aria-label", title);
    }
  }, [map, zoomInTitle, zoomOutTitle]);

  useEffect(() => {
    map?.setMaxZoom(maxZoom);
  }, [map, maxZoom]);

  return map;
}

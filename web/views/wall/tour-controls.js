// @ts-check
// Patrol tours: the menu to start, make, change and delete them, and while one runs a bar saying
// which, where it is and when it moves on (or why it paused), with pause, skip and stop.
import { html } from "htm/preact";
import { Icon } from "../../components/wall/icons.js";
import { Menu, closeMenu } from "../../components/wall/menu.js";
import { useWallClock } from "../../hooks/use-wall-clock.js";
import { t } from "../../i18n.js";

/** @typedef {import("./wall-model.js").Tour} Tour */
/** @typedef {import("../../hooks/use-wall-tour.js").WallTour} WallTour */

/**
 * @param {{tours: Tour[], running: string | null, onStart: (name: string) => void, onNew: () => void,
 *   onEdit: (tour: Tour) => void, onDelete: (tour: Tour) => void}} props
 */
export function TourMenu({ tours, running, onStart, onNew, onEdit, onDelete }) {
  return html`<${Menu} class="tour-menu" label=${t("wall.tour.menu")}>
    ${tours.length
      ? html`<ul class="menu-list" aria-label=${t("wall.tour.list")}>
          ${tours.map(
            (tour) => html`<li data-tour=${tour.name}>
              <span class="menu-item-name">${tour.name}</span>
              <span class="menu-item-meta">${t("wall.tour.summary", { count: tour.cameras.length, seconds: tour.interval_s })}</span>
              <button type="button" class="primary" disabled=${running === tour.name}
                onClick=${(/** @type {Event} */ e) => {
                  onStart(tour.name);
                  closeMenu(e.currentTarget);
                }} aria-label=${t("wall.tour.startOne", { name: tour.name })}>${t("wall.tour.start")}</button>
              <button type="button" onClick=${(/** @type {Event} */ e) => {
                onEdit(tour);
                closeMenu(e.currentTarget);
              }} aria-label=${t("wall.tour.editOne", { name: tour.name })}>${t("wall.tour.edit")}</button>
              <button type="button" class="danger" onClick=${() => onDelete(tour)}
                aria-label=${t("wall.tour.deleteOne", { name: tour.name })}>${t("wall.tour.delete")}</button>
            </li>`,
          )}
        </ul>`
      : html`<p class="menu-empty">${t("wall.tour.none")}</p>`}
    <button type="button" class="menu-new" onClick=${(/** @type {Event} */ e) => {
      onNew();
      closeMenu(e.currentTarget);
    }}>${t("wall.tour.new")}</button>
  <//>`;
}

/**
 * @param {{run: WallTour, nameOf: (camera: string) => string}} props
 */
export function TourStatus({ run, nameOf }) {
  const now = useWallClock();
  if (!run.tour) return null;
  let state = "";
  if (run.paused === "alert") state = t("wall.tour.pausedAlert", { name: nameOf(run.alertCamera ?? "") });
  else if (run.paused === "user") state = t("wall.tour.paused");
  else if (run.nextAt !== null) state = t("wall.tour.next", { seconds: Math.max(0, Math.ceil((run.nextAt - now) / 1000)) });
  return html`<div class=${`tour-status${run.paused ? " tour-paused" : ""}`} data-tour=${run.tour.name}
    data-paused=${run.paused ?? undefined} data-page=${run.page}>
    <p class="tour-what">
      <strong>${t("wall.tour.running", { name: run.tour.name })}</strong>
      <span>${t("wall.tour.page", { page: run.page + 1, pages: run.pages })}</span>
      <span class="tour-state" role="status">${state}</span>
    </p>
    <div class="tour-buttons">
      <button type="button" class="icon-button" onClick=${() => run.skip(-1)} aria-label=${t("wall.tour.prev")} title=${t("wall.tour.prev")}>
        <${Icon} name="prev" />
      </button>
      <button type="button" class="tour-pause" onClick=${run.togglePause}>
        <${Icon} name=${run.paused ? "play" : "pause"} />
        ${run.paused ? t("wall.tour.resume") : t("wall.tour.pause")}
        <kbd>${t("wall.keys.space")}</kbd>
      </button>
      <button type="button" class="icon-button" onClick=${() => run.skip(1)} aria-label=${t("wall.tour.skip")} title=${t("wall.tour.skip")}>
        <${Icon} name="next" />
      </button>
      <button type="button" class="tour-stop" onClick=${run.stop}>
        <${Icon} name="stop" />${t("wall.tour.stop")}
      </button>
    </div>
  </div>`;
}

// @ts-check
// A patrol tour's name, interval and cameras, in a dialog. A new tour starts with every camera
// (the daily full-coverage patrol); the dispatcher unticks what it should skip.
import { html } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { t } from "../../i18n.js";
import { NAME_MAX, TOUR_DEFAULT_S, TOUR_MAX_S, TOUR_MIN_S } from "./wall-model.js";

/** @typedef {import("./wall-model.js").Tour} Tour */

/**
 * @param {{tour: Tour | null, cameras: Array<{id: string, name: string}>, taken: string[],
 *   onSave: (tour: Tour) => Promise<void>, onClose: () => void}} props
 *   `taken`: names of the other tours (a name is one tour).
 */
export function TourEditor({ tour, cameras, taken, onSave, onClose }) {
  const dialog = useRef(/** @type {HTMLDialogElement | null} */ (null));
  const [name, setName] = useState(tour?.name ?? "");
  const [interval, setIntervalText] = useState(String(tour?.interval_s ?? TOUR_DEFAULT_S));
  const [chosen, setChosen] = useState(() => new Set(tour ? tour.cameras : cameras.map((c) => c.id)));
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
  }, []);

  /** @param {string} id */
  const toggle = (id) => {
    const next = new Set(chosen);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setChosen(next);
  };

  /** @param {SubmitEvent} e */
  const submit = async (e) => {
    e.preventDefault();
    const clean = name.trim().slice(0, NAME_MAX);
    const seconds = Math.round(Number(interval));
    if (!clean) return setError(t("wall.tour.needName"));
    if (taken.includes(clean)) return setError(t("wall.tour.nameTaken", { name: clean }));
    if (!chosen.size) return setError(t("wall.tour.needCameras"));
    if (!(seconds >= TOUR_MIN_S && seconds <= TOUR_MAX_S)) {
      return setError(t("wall.tour.badInterval", { min: TOUR_MIN_S, max: TOUR_MAX_S }));
    }
    setBusy(true);
    try {
      // The tour keeps the cameras' own order (the hub's list), which is the order they are shown in.
      await onSave({ name: clean, interval_s: seconds, cameras: cameras.map((c) => c.id).filter((id) => chosen.has(id)) });
      dialog.current?.close();
    } catch {
      setError(t("wall.tour.failed"));
      setBusy(false);
    }
    return undefined;
  };

  return html`<dialog ref=${dialog} class="wall-dialog tour-editor" aria-labelledby="tour-editor-title" onClose=${onClose}>
    <form method="dialog" onSubmit=${submit} novalidate>
      <h3 id="tour-editor-title">${tour ? t("wall.tour.editTitle") : t("wall.tour.newTitle")}</h3>
      <div class="field">
        <label for="tour-name">${t("wall.tour.name")}</label>
        <input id="tour-name" name="tour-name" required maxlength=${NAME_MAX} value=${name}
          onInput=${(/** @type {InputEvent} */ e) => setName(/** @type {HTMLInputElement} */ (e.currentTarget).value)} />
      </div>
      <div class="field">
        <label for="tour-interval">${t("wall.tour.interval")}</label>
        <input id="tour-interval" name="tour-interval" type="number" required min=${TOUR_MIN_S} max=${TOUR_MAX_S} step="1"
          value=${interval} onInput=${(/** @type {InputEvent} */ e) => setIntervalText(/** @type {HTMLInputElement} */ (e.currentTarget).value)} />
      </div>
      <fieldset class="tour-cameras">
        <legend>${t("wall.tour.cameras", { count: chosen.size })}</legend>
        <div class="tour-camera-actions">
          <button type="button" onClick=${() => setChosen(new Set(cameras.map((c) => c.id)))}>${t("wall.tour.all")}</button>
          <button type="button" onClick=${() => setChosen(new Set())}>${t("wall.tour.noneChosen")}</button>
        </div>
        <ul>
          ${cameras.map(
            (c) => html`<li>
              <label><input type="checkbox" name="tour-camera" value=${c.id} checked=${chosen.has(c.id)} onChange=${() => toggle(c.id)} /> ${c.name}</label>
            </li>`,
          )}
        </ul>
      </fieldset>
      <p class="form-error" role="alert">${error}</p>
      <div class="dialog-buttons">
        <button type="button" onClick=${() => dialog.current?.close()}>${t("wall.cancel")}</button>
        <button type="submit" class="primary" disabled=${busy}>${t("wall.tour.save")}</button>
      </div>
    </form>
  </dialog>`;
}

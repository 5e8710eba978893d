// @ts-check
// Report a problem: category, what is wrong, photos (shrunk on the phone), and where: the phone's
// position, or, when the phone will not say (permission refused), one of the worker's grids. The
// report goes through the outbox: in a dead spot it waits, photos and all, and goes when it can.
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { currentUser } from "../../api/client.js";
import { lastFix, locate } from "../../hooks/use-worker-duty.js";
import { enqueue } from "../../hooks/use-worker-outbox.js";
import { t } from "../../i18n.js";
import { shrinkAll } from "./photos.js";

export const CATEGORIES = ["road_damage", "garbage", "illegal_parking", "facility_broken", "safety_hazard", "other"];

export function ReportView() {
  const [where, setWhere] = useState(/** @type {"locating" | "fix" | "refused"} */ (lastFix.value ? "fix" : "locating"));
  const [grid, setGrid] = useState(currentUser.value?.grids[0] ?? "");
  const [photos, setPhotos] = useState(/** @type {Blob[]} */ ([]));
  const [bad, setBad] = useState(/** @type {string[]} */ ([]));
  const [done, setDone] = useState(false);
  useEffect(() => {
    locate().then(
      () => setWhere("fix"),
      () => setWhere("refused"),
    );
  }, []);
  /** @param {Event} e */
  const pick = async (e) => {
    const input = /** @type {HTMLInputElement} */ (e.currentTarget);
    const r = await shrinkAll(input.files);
    setPhotos([...photos, ...r.good].slice(0, 5));
    setBad(r.bad);
    input.value = "";
  };
  /** @param {SubmitEvent} e */
  const submit = (e) => {
    e.preventDefault();
    const form = /** @type {HTMLFormElement} */ (e.currentTarget);
    const data = new FormData(form);
    const text = String(data.get("text") ?? "").trim();
    /** @type {Record<string, string>} */
    const fields = { text, category: String(data.get("category")) };
    const fix = lastFix.value;
    if (where === "fix" && fix) {
      fields.lat = String(fix.lat);
      fields.lon = String(fix.lon);
    } else if (grid) fields.node = grid;
    enqueue({ kind: "report", label: text.slice(0, 60), path: "/api/reports", json: null, fields, photos });
    form.reset();
    setPhotos([]);
    setDone(true);
  };
  const fix = lastFix.value;
  const grids = currentUser.value?.grids ?? [];
  return html`<section class="worker-screen" aria-labelledby="report-title">
    <h2 id="report-title" class="screen-title">${t("worker.report.title")}</h2>
    ${done && html`<p class="notice ok" role="status">${t("worker.report.kept")}</p>`}
    <form class="report-form" onSubmit=${submit} onInput=${() => setDone(false)}>
      <label for="report-category">${t("worker.report.category")}</label>
      <select id="report-category" name="category" required>
        ${CATEGORIES.map((c) => html`<option value=${c}>${t(`worker.report.categories.${c}`)}</option>`)}
      </select>
      <label for="report-text">${t("worker.report.text")}</label>
      <textarea id="report-text" name="text" required rows="4" maxlength="4000"></textarea>
      <label class="big-button file-button" for="report-photos">${t("worker.photos.add", { count: photos.length })}</label>
      <input id="report-photos" class="visually-hidden" type="file" name="photos" accept="image/*" capture="environment" multiple onChange=${pick} />
      ${bad.length ? html`<p class="form-error" role="alert">${t("worker.photos.notImage", { names: bad.join(", ") })}</p>` : null}
      <fieldset class="report-where">
        <legend>${t("worker.report.where")}</legend>
        ${where === "locating" && html`<p>${t("worker.report.locating")}</p>`}
        ${where === "fix" && fix && html`<p class="where-fix">${t("worker.report.here", { lat: fix.lat.toFixed(5), lon: fix.lon.toFixed(5), m: Math.round(fix.accuracy_m) })}</p>`}
        ${where === "refused" &&
        html`<p>${t("worker.report.noLocation")}</p>
          <label for="report-grid">${t("worker.report.grid")}</label>
          <select id="report-grid" name="grid" value=${grid} onChange=${(/** @type {any} */ e) => setGrid(e.currentTarget.value)}>
            ${grids.map((g) => html`<option value=${g}>${g}</option>`)}
          </select>`}
      </fieldset>
      <button type="submit" class="big-button primary report-send">${t("worker.report.send")}</button>
    </form>
  </section>`;
}

// @ts-check
// The video wall: 1, 4, 9 or 16 live tiles (or one camera enlarged), an alarm lane at the front for
// cameras with open alerts, an overview of up to 48 more cameras as snapshots, named layouts and
// patrol tours kept on the hub for the user, and the keyboard (see use-wall-keys).
import { html } from "htm/preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { keepOffersReady } from "../../components/player/peer-pool.js";
import { useCameras } from "../../hooks/use-cameras.js";
import { useOpenAlerts } from "../../hooks/use-open-alerts.js";
import { useWallDirectory } from "../../hooks/use-wall-directory.js";
import { useWallFocus } from "../../hooks/use-wall-focus.js";
import { useWallKeys } from "../../hooks/use-wall-keys.js";
import { useWallLayout } from "../../hooks/use-wall-layout.js";
import { useWallTour } from "../../hooks/use-wall-tour.js";
import { useWallTours } from "../../hooks/use-wall-tours.js";
import { t } from "../../i18n.js";
import { AlarmLane, laneOrder } from "./alarm-lane.js";
import { CameraPicker } from "./camera-picker.js";
import { KeyHelp } from "./key-help.js";
import { LayoutsMenu } from "./layouts-menu.js";
import { OverviewStrip } from "./overview-strip.js";
import { PtzControls } from "./ptz-controls.js";
import { TourEditor } from "./tour-editor.js";
import { TourMenu, TourStatus } from "./tour-controls.js";
import { assignSlot, overviewOf, slotsOf } from "./wall-model.js";
import { WallGrid } from "./wall-grid.js";
import { WallTile } from "./wall-tile.js";
import { WallToolbar } from "./wall-toolbar.js";

/** @typedef {import("../../types/api").Camera} Camera */
/** @typedef {import("./wall-model.js").Tour} Tour */

/** Offers kept ready for the live tiles a switch brings (the largest layout's 16). */
const OFFERS_READY = 16;

export function WallView() {
  const list = useCameras();
  const directory = useWallDirectory();
  const alerts = useOpenAlerts();
  const wall = useWallLayout();
  const { tours, save: saveTour, remove: removeTour } = useWallTours();
  const open = [...alerts.values()].flat().filter((a) => a.endedAt === null);
  const tour = useWallTour(tours, wall.layout.size, open);

  const [enlarged, setEnlarged] = useState(/** @type {string | null} */ (null));
  const [current, setCurrent] = useState(0);
  const [overviewCurrent, setOverviewCurrent] = useState(0);
  const [picker, setPicker] = useState(/** @type {number | null} */ (null));
  const [help, setHelp] = useState(false);
  const [editing, setEditing] = useState(/** @type {{tour: Tour | null} | null} */ (null));
  const root = useRef(/** @type {HTMLElement | null} */ (null));

  const cameras = useMemo(() => new Map((list ?? []).map((c) => [c.id, c])), [list]);
  const ids = useMemo(() => (list ?? []).map((c) => c.id), [list]);
  const size = wall.layout.size;
  const ownSlots = slotsOf(wall.layout, ids);
  const slots = (tour.slots ?? ownSlots).slice(0, size);
  const lane = laneOrder(alerts, (id) => cameras.has(id) && id !== enlarged);
  const inLane = new Set(lane);
  const live = new Set(/** @type {string[]} */ (slots.filter(Boolean)));
  const overview = wall.layout.overview && !enlarged ? overviewOf(ids.filter((id) => !inLane.has(id)), live) : [];
  const nameOf = (/** @type {string} */ id) => cameras.get(id)?.name ?? id;

  // A layout switch brings up to 15 new live tiles at once: their offers are made ahead of time.
  useEffect(() => keepOffersReady(OFFERS_READY), []);
  // Keep the keyboard's tile inside the layout.
  useEffect(() => {
    if (current >= size) setCurrent(size - 1);
  }, [size]);
  useWallFocus(enlarged, picker !== null, current);
  // A camera that disappears from the hub's list cannot stay enlarged.
  useEffect(() => {
    if (enlarged && list && !cameras.has(enlarged)) setEnlarged(null);
  }, [enlarged, list]);

  /** @param {number} n */
  const setSize = (n) => {
    setEnlarged(null);
    if (n !== size) wall.change({ size: n });
  };
  /** @param {number} index @param {string | null} id */
  const assign = (index, id) => wall.change({ slots: assignSlot(ownSlots, index, id) });

  useWallKeys({
    layout: setSize,
    moved: (tile) => {
      if (tile.dataset.slot !== undefined) setCurrent(Number(tile.dataset.slot));
    },
    enlarge: (tile) => {
      const id = tile.dataset.camera;
      if (id && !enlarged) setEnlarged(id);
    },
    back: () => {
      if (enlarged) setEnlarged(null);
      else if (picker !== null) setPicker(null);
      else return false;
      return true;
    },
    pause: () => {
      if (!tour.tour) return false;
      tour.togglePause();
      return true;
    },
    help: () => setHelp(true),
  });

  const fullscreen = () => {
    if (document.fullscreenElement) void document.exitFullscreen();
    else void root.current?.requestFullscreen?.().catch(() => {});
  };

  /** @param {Tour} gone */
  const deleteTour = (gone) => {
    if (tour.tour?.name === gone.name) tour.stop();
    void removeTour(gone).catch(() => {});
  };

  const single = enlarged ? cameras.get(enlarged) : undefined;
  return html`<section
    ref=${root}
    class=${`view view-wall${wall.layout.overview && !single ? " with-overview" : ""}${picker !== null ? " with-picker" : ""}`}
    aria-labelledby="view-title"
  >
    <${WallToolbar}
      size=${size}
      overview=${wall.layout.overview}
      pickerOpen=${picker !== null}
      onSize=${setSize}
      onOverview=${() => wall.change({ overview: !wall.layout.overview })}
      onPicker=${() => setPicker(picker === null ? current : null)}
      onFullscreen=${fullscreen}
      onHelp=${() => setHelp(true)}
    >
      <${LayoutsMenu}
        saved=${wall.saved}
        onSave=${(/** @type {string} */ name) => wall.saveAs(name, ownSlots)}
        onLoad=${(/** @type {string} */ name) => {
          tour.stop();
          setEnlarged(null);
          wall.load(name);
        }}
        onRemove=${wall.remove}
      />
      <${TourMenu}
        tours=${tours}
        running=${tour.tour?.name ?? null}
        onStart=${(/** @type {string} */ name) => {
          setEnlarged(null);
          setPicker(null);
          tour.start(name);
        }}
        onNew=${() => setEditing({ tour: null })}
        onEdit=${(/** @type {Tour} */ x) => setEditing({ tour: x })}
        onDelete=${deleteTour}
      />
    <//>
    <${TourStatus} run=${tour} nameOf=${nameOf} />
    <div class="wall-body">
      ${list !== null && !list.length && html`<p class="wall-empty" role="status">${t("wall.noCameras")}</p>`}
      ${lane.length > 0 && html`<${AlarmLane} ids=${lane} cameras=${cameras} alerts=${alerts} onEnlarge=${setEnlarged} />`}
      <div class="wall-main">
        <div class="wall-stage">
          ${single
            ? html`<div class="wall-single" data-camera-enlarged=${single.id}>
                <${WallTile}
                  key=${`single-${single.id}`}
                  camera=${single}
                  alerts=${alerts.get(single.id) ?? []}
                  where="single"
                  current=${true}
                  label=${t("wall.tile.single", { name: single.name })}
                  onShrink=${() => setEnlarged(null)}
                />
                ${single.ptz === true && html`<${PtzControls} key=${`ptz-${single.id}`} camera=${single} />`}
              </div>`
            : html`<${WallGrid}
                slots=${slots}
                cameras=${list ? cameras : null}
                inLane=${inLane}
                alerts=${alerts}
                current=${current}
                locked=${tour.tour !== null}
                onCurrent=${setCurrent}
                onEnlarge=${setEnlarged}
                onChoose=${setPicker}
                onClear=${(/** @type {number} */ i) => assign(i, null)}
              />`}
        </div>
        ${overview.length > 0 || (wall.layout.overview && !single)
          ? html`<${OverviewStrip} ids=${overview} cameras=${cameras} current=${overviewCurrent}
              onCurrent=${setOverviewCurrent} onEnlarge=${setEnlarged} />`
          : null}
      </div>
    </div>
    ${picker !== null &&
    html`<${CameraPicker}
      directory=${directory}
      cameras=${list ?? []}
      target=${Math.min(picker, size - 1)}
      onWall=${new Map(ownSlots.slice(0, size).flatMap((id, i) => (id ? [[id, i]] : [])))}
      onPick=${(/** @type {string} */ id) => {
        const target = Math.min(picker, size - 1);
        assign(target, id);
        setCurrent(target);
        setPicker((target + 1) % size);
      }}
      onClose=${() => setPicker(null)}
    />`}
    ${help && html`<${KeyHelp} onClose=${() => setHelp(false)} />`}
    ${editing &&
    html`<${TourEditor}
      tour=${editing.tour}
      cameras=${(list ?? []).map((c) => ({ id: c.id, name: c.name }))}
      taken=${tours.map((x) => x.name).filter((n) => n !== editing.tour?.name)}
      onSave=${(/** @type {Tour} */ x) => saveTour(x, editing.tour)}
      onClose=${() => setEditing(null)}
    />`}
  </section>`;
}

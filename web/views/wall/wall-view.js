// @ts-check
// The video wall: 1, 4, 9 or 16 live tiles (or one camera enlarged), an alarm lane at the front for
// cameras with open alerts, an overview of up to 48 more cameras as snapshots, named layouts and
// patrol tours kept on the hub for the user, and the keyboard (see use-wall-keys).
import { html } from "htm/preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { useCameras } from "../../hooks/use-cameras.js";
import { useOpenAlerts } from "../../hooks/use-open-alerts.js";
import { savePref, usePref } from "../../hooks/use-prefs.js";
import { useWallDirectory } from "../../hooks/use-wall-directory.js";
import { useWallKeys } from "../../hooks/use-wall-keys.js";
import { useWallLayout } from "../../hooks/use-wall-layout.js";
import { useWallTour } from "../../hooks/use-wall-tour.js";
import { t } from "../../i18n.js";
import { AlarmLane, laneOrder } from "./alarm-lane.js";
import { CameraPicker } from "./camera-picker.js";
import { KeyHelp } from "./key-help.js";
import { LayoutsMenu } from "./layouts-menu.js";
import { OverviewStrip } from "./overview-strip.js";
import { TourEditor } from "./tour-editor.js";
import { TourMenu, TourStatus } from "./tour-controls.js";
import { TOURS_PREF, assignSlot, moveIndex, overviewOf, slotsOf, toursOf } from "./wall-model.js";
import { PlaceholderTile, WallTile } from "./wall-tile.js";
import { WallToolbar } from "./wall-toolbar.js";

/** @typedef {import("../../types/api").Camera} Camera */
/** @typedef {import("./wall-model.js").Tour} Tour */

/**
 * Columns of a row of tiles as laid out (the first row's length), for the arrow keys.
 * @param {HTMLElement[]} tiles
 */
function columnsOf(tiles) {
  const top = tiles[0]?.offsetTop ?? 0;
  return Math.max(1, tiles.filter((el) => el.offsetTop === top).length);
}

/** @param {string} id */
const tileOf = (id) => /** @type {HTMLElement | null} */ (document.querySelector(`.wall-tile[data-camera="${CSS.escape(id)}"]`));

export function WallView() {
  const list = useCameras();
  const directory = useWallDirectory();
  const alerts = useOpenAlerts();
  const wall = useWallLayout();
  const toursPref = usePref(TOURS_PREF, /** @type {unknown} */ ([]));
  const tours = toursOf(toursPref.value);
  const open = [...alerts.values()].flat().filter((a) => a.endedAt === null);
  const tour = useWallTour(tours, wall.layout.size, open);

  const [enlarged, setEnlarged] = useState(/** @type {string | null} */ (null));
  const [current, setCurrent] = useState(0);
  const [overviewCurrent, setOverviewCurrent] = useState(0);
  const [picker, setPicker] = useState(/** @type {number | null} */ (null));
  const [help, setHelp] = useState(false);
  const [editing, setEditing] = useState(/** @type {{tour: Tour | null} | null} */ (null));
  const root = useRef(/** @type {HTMLElement | null} */ (null));
  /** The camera last enlarged: focus goes back to its tile. */
  const lastEnlarged = useRef(/** @type {string | null} */ (null));

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

  // Keep the keyboard's tile inside the layout.
  useEffect(() => {
    if (current >= size) setCurrent(size - 1);
  }, [size]);
  // Enlarged: the single tile takes the focus; back on the wall, the tile it came from.
  useEffect(() => {
    if (enlarged) {
      lastEnlarged.current = enlarged;
      tileOf(enlarged)?.focus();
    } else if (lastEnlarged.current) {
      tileOf(lastEnlarged.current)?.focus();
      lastEnlarged.current = null;
    }
  }, [enlarged]);
  // The picker closed: back to the tile it was filling.
  const pickerWasOpen = useRef(false);
  useEffect(() => {
    if (picker === null && pickerWasOpen.current) {
      /** @type {HTMLElement | null} */ (document.querySelector(`.wall-grid > [data-slot="${current}"]`))?.focus();
    }
    pickerWasOpen.current = picker !== null;
  }, [picker]);
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
    move: (key, tile) => {
      const box = tile.parentElement;
      if (!box) return;
      const tiles = /** @type {HTMLElement[]} */ ([...box.children].filter((el) => el.classList.contains("wall-tile")));
      const next = tiles[moveIndex(tiles.indexOf(tile), key, tiles.length, columnsOf(tiles))];
      if (!next) return;
      if (next.dataset.slot !== undefined) setCurrent(Number(next.dataset.slot));
      next.focus();
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

  /** @param {Tour} saved @param {Tour | null} was */
  const saveTour = async (saved, was) => {
    const others = tours.filter((x) => x.name !== was?.name);
    await savePref(TOURS_PREF, [...others, saved].sort((a, b) => a.name.localeCompare(b.name)));
  };
  /** @param {Tour} gone */
  const deleteTour = async (gone) => {
    if (tour.tour?.name === gone.name) tour.stop();
    await savePref(TOURS_PREF, tours.filter((x) => x.name !== gone.name)).catch(() => {});
  };

  const grid = slots.map((id, i) => {
    const label = t("wall.tile.label", { tile: i + 1, name: id ? nameOf(id) : t("wall.tile.empty") });
    const common = { slot: i, label, current: i === current, onFocus: () => setCurrent(i) };
    const choose = tour.tour ? undefined : () => setPicker(i);
    if (!id) return html`<${PlaceholderTile} key=${`empty-${i}`} kind="empty" ...${common} onChoose=${choose} />`;
    if (list === null) return html`<${PlaceholderTile} key=${`loading-${i}`} kind="loading" ...${common} />`;
    const camera = cameras.get(id);
    if (!camera) {
      return html`<${PlaceholderTile} key=${`missing-${i}`} kind="missing" name=${id} ...${common}
        onClear=${tour.tour ? undefined : () => assign(i, null)} />`;
    }
    if (inLane.has(id)) return html`<${PlaceholderTile} key=${`moved-${id}`} kind="moved" camera=${id} name=${camera.name} ...${common} />`;
    return html`<${WallTile}
      key=${id}
      camera=${camera}
      alerts=${alerts.get(id) ?? []}
      ...${common}
      onEnlarge=${() => setEnlarged(id)}
      onChoose=${choose}
      onClear=${tour.tour ? undefined : () => assign(i, null)}
    />`;
  });

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
              </div>`
            : html`<div class="wall-grid" role="group" aria-label=${t("wall.grid", { count: size })} data-size=${size}
                style=${`--cols: ${Math.sqrt(size)}`}>
                ${grid}
              </div>`}
        </div>
        ${overview.length > 0 || (wall.layout.overview && !single)
          ? html`<${OverviewStrip} ids=${overview} cameras=${cameras} current=${overviewCurrent}
              onCurrent=${setOverviewCurrent} onEnlarge=${setEnlarged} />`
          : null}
      </div>
      ${list !== null && !list.length && html`<p class="wall-empty">${t("wall.noCameras")}</p>`}
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

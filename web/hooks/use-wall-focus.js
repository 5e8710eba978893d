// @ts-check
// Where the keyboard's focus goes on the wall when its view changes: to the single camera when a
// tile is enlarged, back to that tile afterwards, and back to the tile being filled when the camera
// picker closes. Nobody is left focused on something that has just disappeared.
import { useEffect, useRef } from "preact/hooks";

/** @param {string} id */
const tileOf = (id) => /** @type {HTMLElement | null} */ (document.querySelector(`.wall-tile[data-camera="${CSS.escape(id)}"]`));

/**
 * @param {string | null} enlarged The camera shown alone, if any.
 * @param {boolean} pickerOpen
 * @param {number} current The grid tile the keyboard is on.
 */
export function useWallFocus(enlarged, pickerOpen, current) {
  const lastEnlarged = useRef(/** @type {string | null} */ (null));
  const pickerWasOpen = useRef(false);
  useEffect(() => {
    if (enlarged) {
      lastEnlarged.current = enlarged;
      tileOf(enlarged)?.focus();
    } else if (lastEnlarged.current) {
      tileOf(lastEnlarged.current)?.focus();
      lastEnlarged.current = null;
    }
  }, [enlarged]);
  useEffect(() => {
    if (!pickerOpen && pickerWasOpen.current) {
      /** @type {HTMLElement | null} */ (document.querySelector(`.wall-grid > [data-slot="${current}"]`))?.focus();
    }
    pickerWasOpen.current = pickerOpen;
  }, [pickerOpen]);
}

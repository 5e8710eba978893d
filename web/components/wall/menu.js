// @ts-check
// A drop-down panel on a <details>: opens and closes with its summary (a native button), closes on
// Escape (focus back on the summary) and on a click elsewhere.
import { html } from "htm/preact";
import { useEffect, useRef } from "preact/hooks";

/**
 * @param {{label: any, class?: string, children?: any, summaryLabel?: string}} props
 */
export function Menu({ label, class: cls, children, summaryLabel }) {
  const ref = useRef(/** @type {HTMLDetailsElement | null} */ (null));
  useEffect(() => {
    /** @param {PointerEvent} e */
    const outside = (e) => {
      const el = ref.current;
      if (el?.open && e.target instanceof Node && !el.contains(e.target)) el.open = false;
    };
    document.addEventListener("pointerdown", outside);
    return () => document.removeEventListener("pointerdown", outside);
  }, []);
  /** @param {KeyboardEvent} e */
  const onKey = (e) => {
    const el = ref.current;
    if (e.key === "Escape" && el?.open) {
      el.open = false;
      /** @type {HTMLElement | null} */ (el.querySelector("summary"))?.focus();
      e.preventDefault();
    }
  };
  return html`<details ref=${ref} class=${`menu ${cls ?? ""}`} onKeyDown=${onKey}>
    <summary aria-label=${summaryLabel}>${label}</summary>
    <div class="menu-panel">${children}</div>
  </details>`;
}

/**
 * Close the menu around an element (after an action in it).
 * @param {EventTarget | null} from
 */
export function closeMenu(from) {
  if (from instanceof Element) {
    const d = from.closest("details.menu");
    if (d instanceof HTMLDetailsElement) d.open = false;
  }
}

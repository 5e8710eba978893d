// @ts-check
// Whether an element is on screen and its page visible: hidden camera tiles stop their players.
import { useEffect, useState } from "preact/hooks";

/**
 * True while the element behind `ref` intersects the viewport and the page is not hidden.
 * @param {{current: Element | null}} ref
 */
export function useVisible(ref) {
  const [onScreen, setOnScreen] = useState(true);
  const [pageShown, setPageShown] = useState(document.visibilityState !== "hidden");
  useEffect(() => {
    const onVisibility = () => setPageShown(document.visibilityState !== "hidden");
    document.addEventListener("visibilitychange", onVisibility);
    const el = ref.current;
    const observer = el ? new IntersectionObserver((entries) => setOnScreen(entries.some((e) => e.isIntersecting))) : null;
    if (el && observer) observer.observe(el);
    return () => {
      document.removeEventListener("visibilitychange", onVisibility);
      observer?.disconnect();
    };
  }, []);
  return onScreen && pageShown;
}

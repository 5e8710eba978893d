// @ts-check
// The time now, renewed every few seconds: for "seen 3 minutes ago" that stays true.
import { useEffect, useState } from "preact/hooks";

/**
 * Date.now(), re-rendering the component every `everyMs`.
 * @param {number} [everyMs]
 */
export function useMapClock(everyMs = 15_000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

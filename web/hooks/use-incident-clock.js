// @ts-check
// The time now, ticking: for deadlines counting down and ages ("5 minutes ago") that move on.
import { useEffect, useState } from "preact/hooks";

/**
 * Date.now(), re-rendering every `periodMs` while `running`.
 * @param {number} periodMs
 * @param {boolean} [running]
 */
export function useNow(periodMs, running = true) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!running) return undefined;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), periodMs);
    return () => clearInterval(timer);
  }, [periodMs, running]);
  return now;
}

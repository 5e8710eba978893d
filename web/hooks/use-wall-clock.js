// @ts-check
// The time now, ticking once a second, for "offline for 3 minutes", "next in 8 s", "retrying in
// 4 s": one timer shared by every component that shows such a time.
import { signal } from "@preact/signals";
import { useEffect } from "preact/hooks";

const now = signal(Date.now());
let users = 0;
/** @type {ReturnType<typeof setInterval> | undefined} */
let timer;

/** Milliseconds since the epoch, updated every second while some component uses it. */
export function useWallClock() {
  useEffect(() => {
    if (users++ === 0) {
      now.value = Date.now();
      timer = setInterval(() => {
        now.value = Date.now();
      }, 1000);
    }
    return () => {
      if (--users === 0) clearInterval(timer);
    };
  }, []);
  return now.value;
}

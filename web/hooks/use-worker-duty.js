// @ts-check
// On duty: while the app is open, the phone's position goes to the hub every minute
// (POST /api/me/location; a hub without it takes POST /api/me/position; one that has the worker off
// duty answers 409 and keeps nothing), which keeps it as the
// worker's track and shows the last point on the desk's map. A position the phone could not send
// is not kept: the next one, a minute later, is the one that matters.
import { signal } from "@preact/signals";
import { HttpError, request } from "../api/client.js";

export const EVERY_MS = 60_000;

/** @typedef {{lat: number, lon: number, accuracy_m: number, at: number}} Fix */

/** The last position the phone had, or null. */
export const lastFix = signal(/** @type {Fix | null} */ (null));
/** "off" | "waiting" | "sent" | "refused" (no permission) | "failed" (could not send) | "offDuty" (the hub has us off duty). */
export const dutyState = signal(/** @type {"off" | "waiting" | "sent" | "refused" | "failed" | "offDuty"} */ ("off"));
/** Whether the worker says they are on duty (this phone remembers it). */
export const onDuty = signal(readDuty());

const DUTY_KEY = "skyhub.worker.onDuty";
const LOCATION = "/api/me/location";
let path = LOCATION;
/** @type {ReturnType<typeof setInterval> | undefined} */
let timer;

function readDuty() {
  try {
    return localStorage.getItem("skyhub.worker.onDuty") !== "false";
  } catch {
    return true;
  }
}

/** The phone's position now (one reading). @returns {Promise<Fix>} */
export function locate() {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) {
      reject(new Error("no geolocation"));
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (p) => {
        const fix = { lat: p.coords.latitude, lon: p.coords.longitude, accuracy_m: p.coords.accuracy, at: Date.now() };
        lastFix.value = fix;
        resolve(fix);
      },
      (err) => reject(err),
      { enableHighAccuracy: true, maximumAge: 30_000, timeout: 20_000 },
    );
  });
}

async function tick() {
  if (!onDuty.value) return;
  /** @type {Fix} */
  let fix;
  try {
    fix = await locate();
  } catch {
    dutyState.value = "refused";
    return;
  }
  const accuracy = Math.min(fix.accuracy_m, 100_000);
  const body =
    path === LOCATION
      ? { lat: fix.lat, lon: fix.lon, accuracy, time: fix.at / 1000 }
      : { lat: fix.lat, lon: fix.lon, accuracy_m: accuracy };
  try {
    await request(path, { method: "POST", body });
    dutyState.value = "sent";
  } catch (err) {
    if (err instanceof HttpError && (err.status === 404 || err.status === 405) && path === LOCATION) {
      path = "/api/me/position"; // a hub from before tracks: the current position only
      return tick();
    }
    dutyState.value = err instanceof HttpError && err.status === 409 ? "offDuty" : "failed";
  }
}

/** @param {boolean} on */
export function setOnDuty(on) {
  onDuty.value = on;
  try {
    localStorage.setItem(DUTY_KEY, String(on));
  } catch {
    /* not remembered */
  }
  if (on) startDuty();
  else {
    clearInterval(timer);
    timer = undefined;
    dutyState.value = "off";
  }
}

/** Send the position now and every minute while on duty. */
export function startDuty() {
  if (!onDuty.value || timer !== undefined) return;
  dutyState.value = "waiting";
  void tick();
  timer = setInterval(() => void tick(), EVERY_MS);
}

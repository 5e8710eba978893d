// @ts-check
// The worker's outbox: what the phone did that the hub has not taken yet (acknowledgements,
// replies, incident steps, reports with their photos), kept in IndexedDB (idb-keyval) so that a
// dead spot, a reload or a closed app loses none of it. Records are sent one at a time in the
// order they were made, at start, when the browser says it is online, and on a tap; each carries
// an Idempotency-Key made on the phone, so a request the hub took but whose answer was lost is
// not done twice when it is sent again. A 2xx or a 4xx (the hub will never take it: said on the
// screen) removes it; no answer or a 5xx keeps it and backs off up to a few minutes; a 401 stops
// (the client goes to the login).
import { signal } from "@preact/signals";
import { HttpError, request } from "../api/client.js";

/**
 * @typedef {object} OutboxItem
 * @property {string} key The Idempotency-Key (and the record's id).
 * @property {number} made When it was done on the phone (ms).
 * @property {"ack" | "reply" | "transition" | "report" | "photos"} kind What it is, for people.
 * @property {string} label A short text that says which one.
 * @property {string} path
 * @property {Record<string, unknown> | null} json A JSON body.
 * @property {Record<string, string> | null} fields Form fields (with photos: multipart).
 * @property {Blob[]} photos
 * @property {string} [error] The hub's refusal, once refused.
 */

const FIRST_RETRY_MS = 2_000;
const MAX_RETRY_MS = 180_000;
const ORDER_KEY = "order";

/** @type {Promise<typeof import("idb-keyval") & {store: import("idb-keyval").UseStore}> | undefined} */
let db;

/** idb-keyval and the outbox's store, imported on first use: the inbox is drawn without waiting for them. */
function idb() {
  db ??= import("idb-keyval").then(
    (m) => ({ ...m, store: m.createStore("skyhub-worker", "outbox") }),
    (err) => {
      db = undefined; // not loaded (a failing link at start): tried again on next use
      throw err;
    },
  );
  return db;
}

/** @param {IDBValidKey} key */
const get = async (key) => {
  const { get, store } = await idb();
  return get(key, store);
};
/** @param {IDBValidKey} key @param {unknown} value */
const set = async (key, value) => {
  const { set, store } = await idb();
  return set(key, value, store);
};
/** @param {IDBValidKey} key */
const del = async (key) => {
  const { del, store } = await idb();
  return del(key, store);
};

/** Waiting records, oldest first: each kept on the phone, so what the screen counts survives a
 * reload or a closed app the moment after. */
export const outbox = signal(/** @type {OutboxItem[]} */ ([]));
/** Actions still being written to IndexedDB (milliseconds; longer with photos), oldest first. */
export const keeping = signal(/** @type {OutboxItem[]} */ ([]));
/** Records the hub refused (shown once, then forgotten). */
export const refused = signal(/** @type {OutboxItem[]} */ ([]));
/** True while a record is on its way. */
export const sending = signal(false);

/** @type {Map<string, (answer: any) => void>} */
const done = new Map();
/** @type {Set<(item: OutboxItem, answer: any) => void>} */
const sentListeners = new Set();

/**
 * Hear of every record the hub took, with its answer (also those an earlier page made).
 * @param {(item: OutboxItem, answer: any) => void} fn
 */
export function onSent(fn) {
  sentListeners.add(fn);
  return () => sentListeners.delete(fn);
}
let delay = FIRST_RETRY_MS;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let timer;
let flushing = false;
let loaded = false;

/** A new Idempotency-Key. */
function newKey() {
  return crypto.randomUUID();
}

/** The writes of new actions, one after another (the outbox keeps the order they were made in). */
let saving = Promise.resolve();

async function saveOrder() {
  // With the actions still being written: a key whose record is not there yet is skipped on load,
  // while an order that left out a kept record would lose it.
  await set(ORDER_KEY, [...outbox.value, ...keeping.value].map((i) => i.key));
}

/** Read what an earlier page left (once). */
export async function loadOutbox() {
  if (loaded) return;
  loaded = true;
  /** @type {string[]} */
  const keys = (await get(ORDER_KEY)) ?? [];
  /** @type {OutboxItem[]} */
  const items = [];
  for (const k of keys) {
    const item = await get(k);
    if (item) items.push(item);
  }
  // Anything done on this page while they were read comes after them.
  const kept = new Set(items.map((i) => i.key));
  outbox.value = [...items, ...outbox.value.filter((i) => !kept.has(i.key))];
}

/**
 * Keep one action and send it when it can go; resolves the hub's answer once sent (a page that
 * is closed first never hears it, but the action still goes from the next page).
 * @param {Omit<OutboxItem, "key" | "made" | "photos"> & {photos?: Blob[]}} what
 * @returns {{key: string, sent: Promise<any>}}
 */
export function enqueue(what) {
  const item = /** @type {OutboxItem} */ ({ photos: [], ...what, key: newKey(), made: Date.now() });
  const sent = new Promise((resolve) => done.set(item.key, resolve));
  keeping.value = [...keeping.value, item];
  saving = saving.then(async () => {
    try {
      await set(item.key, item);
      await saveOrder();
    } catch {
      // The phone's storage refused it (full, or private mode): it goes from this page all the same.
    }
    keeping.value = keeping.value.filter((i) => i !== item);
    outbox.value = [...outbox.value, item];
    flush();
  });
  return { key: item.key, sent };
}

/** @param {OutboxItem} item */
function body(item) {
  if (item.fields || item.photos.length) {
    const form = new FormData();
    for (const [k, v] of Object.entries(item.fields ?? {})) form.append(k, v);
    item.photos.forEach((p, i) => form.append("photos", p, `photo-${i + 1}.jpg`));
    return form;
  }
  return item.json ?? undefined;
}

/** @param {OutboxItem} item */
async function remove(item) {
  outbox.value = outbox.value.filter((i) => i.key !== item.key);
  await del(item.key);
  await saveOrder();
}

/** Send what waits, in order; stops at the first that cannot go now. */
export function flush() {
  clearTimeout(timer);
  if (flushing || !navigator.onLine) return; // the "online" event starts it again
  flushing = true;
  sending.value = true;
  void (async () => {
    try {
      while (outbox.value.length) {
        const item = outbox.value[0];
        let answer;
        try {
          const r = await request(item.path, { method: "POST", body: body(item), headers: { "Idempotency-Key": item.key } });
          const text = await r.text();
          answer = text ? JSON.parse(text) : null;
        } catch (err) {
          if (err instanceof HttpError && err.status >= 400 && err.status < 500 && err.status !== 401 && err.status !== 429) {
            refused.value = [...refused.value, { ...item, error: err.detail }];
            await remove(item);
            done.get(item.key)?.(null);
            done.delete(item.key);
            continue;
          }
          if (err instanceof HttpError && err.status === 401) return; // the login takes over
          timer = setTimeout(flush, delay);
          delay = Math.min(delay * 2, MAX_RETRY_MS);
          return;
        }
        delay = FIRST_RETRY_MS;
        await remove(item);
        done.get(item.key)?.(answer);
        done.delete(item.key);
        for (const fn of sentListeners) fn(item, answer);
      }
    } finally {
      flushing = false;
      sending.value = false;
    }
  })();
}

/** Forget a refusal once it was seen. @param {string} key */
export function dismissRefused(key) {
  refused.value = refused.value.filter((i) => i.key !== key);
}

/** Start: what an earlier page left, sent now and whenever the network comes back. */
export async function startOutbox() {
  await loadOutbox();
  addEventListener("online", () => {
    delay = FIRST_RETRY_MS;
    flush();
  });
  flush();
}

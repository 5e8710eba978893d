// @ts-check
// Messages and formats in the user's language. Messages live in web/locales/{zh,en}/<screen>.json
// and are named by dotted ids, the screen first: t("login.submit"), t("desk.nav.wall"). The
// language is ?lang=zh|en first, then the user's stored choice, then the browser's, then English.
// Dates and numbers go through Intl in that language.
import { effect, signal } from "@preact/signals";
import { api, hasSession } from "./api/client.js";

/** @typedef {"en" | "zh"} Lang */
/** @typedef {Record<string, string | number>} MessageParams */
/** @typedef {{[key: string]: string | Messages}} Messages */

/** @type {readonly Lang[]} */
export const LANGUAGES = ["en", "zh"];
export const DEFAULT_LANGUAGE = /** @type {Lang} */ ("en");
/** Each language by its own name, for the switch. */
export const LANGUAGE_NAMES = /** @type {Record<Lang, string>} */ ({ en: "English", zh: "中文" });
/** The BCP 47 tag for <html lang> and Intl (zh: Simplified Chinese, the right CJK glyphs). */
const LOCALE_TAGS = /** @type {Record<Lang, string>} */ ({ en: "en", zh: "zh-CN" });
const STORE_KEY = "skyhub.lang";
/** The user's preference key on the hub (`GET /api/me/prefs`, `PUT /api/me/prefs/lang`). */
const PREF_KEY = "lang";
const PLURAL_FORMS = new Set(["zero", "one", "two", "few", "many", "other"]);

/**
 * A supported language from a tag such as "zh-Hans-CN" or "en-GB", or null.
 * @param {string | null | undefined} tag
 * @returns {Lang | null}
 */
export function languageOf(tag) {
  const base = (tag || "").toLowerCase().split(/[-_]/)[0];
  return LANGUAGES.find((l) => l === base) ?? null;
}

/** The language to start in: ?lang=, then the stored choice, then the browser's, then English. */
export function detectLanguage() {
  const fromQuery = languageOf(new URLSearchParams(location.search).get("lang"));
  if (fromQuery) return fromQuery;
  let stored = null;
  try {
    stored = languageOf(localStorage.getItem(STORE_KEY));
  } catch {
    /* storage disabled */
  }
  if (stored) return stored;
  for (const tag of navigator.languages ?? [navigator.language]) {
    const l = languageOf(tag);
    if (l) return l;
  }
  return DEFAULT_LANGUAGE;
}

/** The language in force; components that call t() or the format helpers follow it. */
export const lang = signal(detectLanguage());

/** id → text, per language: what has been loaded so far. */
const catalogs = signal(/** @type {Record<string, Record<string, string | Record<string, string>>>} */ ({}));
/** Screens this page uses ("common" always): loaded again for a new language. */
const screens = new Set(["common"]);
/** @type {Map<string, Promise<void>>} */
const loading = new Map();

/**
 * Flatten a screen's messages to dotted ids; a plural object ({"one", "other"}) stays one message.
 * @param {string} prefix
 * @param {Messages} tree
 * @param {Record<string, string | Record<string, string>>} out
 */
function flatten(prefix, tree, out) {
  for (const [key, value] of Object.entries(tree)) {
    const id = `${prefix}.${key}`;
    if (typeof value === "string") out[id] = value;
    else if (Object.keys(value).every((k) => PLURAL_FORMS.has(k)) && "other" in value) {
      out[id] = /** @type {Record<string, string>} */ (value);
    } else flatten(id, value, out);
  }
}

/** @type {Record<string, Record<string, Messages>> | null} */
let inPage = null;

/**
 * Messages the hub wrote into the page (`<script type="application/json" id="skyhub-messages">`,
 * language → screen → messages): those of its first screen, so that it needs no request for them.
 * @param {Lang} language
 * @param {string} screen
 * @returns {Messages | undefined}
 */
function pageMessages(language, screen) {
  if (inPage === null) {
    try {
      inPage = JSON.parse(document.getElementById("skyhub-messages")?.textContent || "{}");
    } catch {
      inPage = {};
    }
  }
  return inPage?.[language]?.[screen];
}

/**
 * Load one screen's messages in one language (once).
 * @param {Lang} language
 * @param {string} screen
 */
function loadScreen(language, screen) {
  const key = `${language}/${screen}`;
  let p = loading.get(key);
  if (!p) {
    const given = pageMessages(language, screen);
    const tree = given ? Promise.resolve(given) : api(`/web/locales/${key}.json`, { auth: false });
    p = tree.then((/** @type {Messages} */ tree) => {
      /** @type {Record<string, string | Record<string, string>>} */
      const flat = {};
      flatten(screen, tree, flat);
      catalogs.value = { ...catalogs.value, [language]: { ...catalogs.value[language], ...flat } };
    });
    p.catch(() => loading.delete(key)); // a failed load is tried again next time
    loading.set(key, p);
  }
  return p;
}

/**
 * Load the messages of these screens (and "common") in the current language, and English as the
 * fallback; resolves when t() can answer for them.
 * @param {...string} names
 */
export async function loadMessages(...names) {
  for (const n of names) screens.add(n);
  const wanted = new Set([lang.value, DEFAULT_LANGUAGE]);
  await Promise.all([...wanted].flatMap((l) => [...screens].map((s) => loadScreen(l, s))));
}

/**
 * Switch the language: load its messages, then show it everywhere, and remember the choice.
 * @param {Lang} language
 */
export async function setLanguage(language) {
  await Promise.all([...screens].map((s) => loadScreen(language, s)));
  lang.value = language;
  // A ?lang= in the address would win on the next reload: keep it in step with the choice.
  const u = new URL(location.href);
  if (u.searchParams.has("lang")) {
    u.searchParams.set("lang", language);
    history.replaceState(history.state, "", u);
  }
  rememberLanguage(language);
}

/**
 * Store the user's choice of language: in this browser, and when logged in also on the hub
 * (`PUT /api/me/prefs/lang`), so that it follows the user to any machine.
 * @param {Lang} language
 */
export function rememberLanguage(language) {
  try {
    localStorage.setItem(STORE_KEY, language);
  } catch {
    /* storage disabled: the choice lasts as long as the page */
  }
  if (hasSession()) {
    api(`/api/me/prefs/${PREF_KEY}`, { method: "PUT", body: language }).catch(() => {}); // kept locally anyway
  }
}

/**
 * After a login: take the language the user chose on another machine (their hub preference),
 * unless the address asks for one. Call once the page knows it is logged in.
 */
export async function adoptUserLanguage() {
  if (languageOf(new URLSearchParams(location.search).get("lang"))) return;
  try {
    /** @type {Record<string, unknown>} */
    const prefs = await api("/api/me/prefs");
    const chosen = languageOf(typeof prefs[PREF_KEY] === "string" ? String(prefs[PREF_KEY]) : null);
    if (!chosen) return;
    try {
      localStorage.setItem(STORE_KEY, chosen);
    } catch {
      /* storage disabled */
    }
    if (chosen !== lang.value) {
      await Promise.all([...screens].map((s) => loadScreen(chosen, s)));
      lang.value = chosen;
    }
  } catch {
    /* no preferences (or an older hub): the browser's choice stands */
  }
}

/**
 * The message `id` in the current language (English when it has none yet, the id itself when
 * neither has it), with `{name}` replaced from `params`. A plural message picks its form by
 * `params.count`.
 * @param {string} id
 * @param {MessageParams} [params]
 * @returns {string}
 */
export function t(id, params) {
  const l = lang.value;
  const all = catalogs.value;
  const message = all[l]?.[id] ?? all[DEFAULT_LANGUAGE]?.[id];
  if (message === undefined) return id;
  let text;
  if (typeof message === "string") text = message;
  else {
    const count = Number(params?.count ?? 0);
    const form = new Intl.PluralRules(LOCALE_TAGS[l]).select(count);
    text = message[form] ?? message.other;
  }
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) =>
    name in params ? (typeof params[name] === "number" ? formatNumber(Number(params[name])) : String(params[name])) : whole,
  );
}

/** The BCP 47 tag of the current language (for Intl and <html lang>). */
export function localeTag() {
  return LOCALE_TAGS[lang.value];
}

/** @param {Date | string | number} value */
const toDate = (value) => (value instanceof Date ? value : new Date(value));

/**
 * A clock time (hours, minutes, seconds) in the current language.
 * @param {Date | string | number} value
 * @param {Intl.DateTimeFormatOptions} [options]
 */
export function formatTime(value, options = { hour: "2-digit", minute: "2-digit", second: "2-digit" }) {
  return new Intl.DateTimeFormat(localeTag(), options).format(toDate(value));
}

/**
 * A date and time in the current language.
 * @param {Date | string | number} value
 * @param {Intl.DateTimeFormatOptions} [options]
 */
export function formatDateTime(value, options = { dateStyle: "medium", timeStyle: "medium" }) {
  return new Intl.DateTimeFormat(localeTag(), options).format(toDate(value));
}

/**
 * A number in the current language.
 * @param {number} value
 * @param {Intl.NumberFormatOptions} [options]
 */
export function formatNumber(value, options) {
  return new Intl.NumberFormat(localeTag(), options).format(value);
}

/** @type {Array<[Intl.RelativeTimeFormatUnit, number]>} */
const UNITS = [
  ["day", 86_400],
  ["hour", 3_600],
  ["minute", 60],
  ["second", 1],
];

/**
 * How long ago (or how far ahead) a time is, in words: "5 minutes ago", "5分钟前", "now".
 * @param {Date | string | number} value
 * @param {number} [now] Milliseconds since the epoch (Date.now()).
 */
export function formatRelative(value, now = Date.now()) {
  const s = (toDate(value).getTime() - now) / 1000;
  const [unit, size] = UNITS.find(([, size]) => Math.abs(s) >= size) ?? UNITS[UNITS.length - 1];
  return new Intl.RelativeTimeFormat(localeTag(), { numeric: "auto" }).format(Math.round(s / size), unit);
}

// <html lang> follows the language (screen readers, fonts, hyphenation).
effect(() => {
  document.documentElement.lang = LOCALE_TAGS[lang.value];
});

// @ts-check
// The one HTTP client of the pages. It owns the edges: the base URL, the bearer token (kept in
// this tab's sessionStorage, shared with the older pages under /web/; the worker's phone app also
// keeps it on the device, so that it opens in a dead spot after being closed), refreshing it at three
// quarters of its life, decoding error answers into HttpError, and the way back to the login:
// however many requests are refused with 401 at once, the page goes to /login?next=… once.
// Nothing else in web/ calls fetch.
import { signal } from "@preact/signals";

/** @typedef {import("../types/api").Me} Me */
/** @typedef {import("../types/api").TokenResponse} TokenResponse */
/** @typedef {import("../types/api").ErrorBody} ErrorBody */

/**
 * @typedef {object} RequestOptions
 * @property {string} [method] HTTP method (GET).
 * @property {unknown} [body] Sent as JSON, except a Blob, FormData, or a string with a `contentType`.
 * @property {string} [contentType] Content-Type of a string or Blob body sent as it is (an SDP offer).
 * @property {Record<string, string>} [headers] More request headers.
 * @property {boolean} [auth] Send the bearer token, and treat 401 as "log in again" (true).
 * @property {string} [base] Another origin to send it to (a camera's `owner_url`); "" for this hub.
 * @property {AbortSignal} [signal] Cancels the request.
 * @property {boolean} [keepalive] Let it outlive the page (a DELETE on unload).
 * @property {RequestPriority} [priority] Its place in the browser's queue for a connection to the hub
 *   (Fetch Priority: "high" for a WHEP offer, "low" for a snapshot; "auto" by default).
 */

const TOKEN_KEY = "skyhub.token";
/** localStorage key of the worker app's login, kept on the phone across closing the app. */
const DEVICE_TOKEN_KEY = "skyhub.token.device";
/** Refresh once this share of a token's lifetime has passed. */
const REFRESH_AT = 0.75;
/** While a refresh cannot reach the hub, try again this often (as long as the token lasts). */
const REFRESH_RETRY_MS = 30_000;
export const LOGIN_PATH = "/login";

/** An HTTP answer that was not 2xx. */
export class HttpError extends Error {
  /**
   * @param {number} status HTTP status (0: the hub could not be reached).
   * @param {string} detail What the hub said (its `detail`), or a description.
   * @param {number | null} [retryAfterS] Seconds from `Retry-After`, if sent.
   */
  constructor(status, detail, retryAfterS = null) {
    super(detail || `HTTP ${status}`);
    this.name = "HttpError";
    this.status = status;
    this.detail = detail;
    this.retryAfterS = retryAfterS;
  }
}

let baseUrl = "";
let token = readToken();
/** @type {ReturnType<typeof setTimeout> | undefined} */
let refreshTimer;
/** Set once the page is on its way to the login: later 401s do nothing more. */
let redirecting = false;

/** The logged-in user once known (see {@link loadCurrentUser}); null before and after. */
export const currentUser = signal(/** @type {Me | null} */ (null));

/**
 * Whether this page keeps its login on the device: the worker's phone app (and the login on its
 * way there). A phone is one person's; the desk and the console, often on shared machines, keep
 * a login for the tab only.
 */
function keptOnDevice() {
  const onWorker = (/** @type {string} */ p) => p === "/worker" || p.startsWith("/worker/");
  if (onWorker(location.pathname)) return true;
  return location.pathname === LOGIN_PATH && onWorker(new URLSearchParams(location.search).get("next") ?? "");
}

function readToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? (keptOnDevice() ? localStorage.getItem(DEVICE_TOKEN_KEY) : null);
  } catch {
    return null; // storage disabled: a login lasts as long as the page
  }
}

/**
 * The claims of a token (not verified: only to know when it runs out).
 * @param {string | null} t
 * @returns {{exp?: number, iat?: number, sub?: string} | null}
 */
function claims(t) {
  if (!t) return null;
  try {
    const part = t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch {
    return null;
  }
}

const nowS = () => Date.now() / 1000;

/** Where requests go by default: "" (this origin) unless set. @param {string} url */
export function setBaseUrl(url) {
  baseUrl = url.replace(/\/+$/, "");
}

/**
 * The full URL of an API path on this hub, or on `base` (another node).
 * @param {string} path
 * @param {string} [base]
 */
export function url(path, base = baseUrl) {
  return /^https?:\/\//.test(path) ? path : `${base.replace(/\/+$/, "")}${path}`;
}

/** The bearer token, or null when not logged in. */
export function getToken() {
  return token;
}

/** True when this tab holds a token that has not run out. */
export function hasSession() {
  const c = claims(token);
  return Boolean(c && (c.exp ?? 0) > nowS());
}

/**
 * Keep a new token (after a login or refresh) and plan its refresh.
 * @param {string | null} t
 */
export function setToken(t) {
  token = t;
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
    if (t && keptOnDevice()) localStorage.setItem(DEVICE_TOKEN_KEY, t);
    else if (!t) localStorage.removeItem(DEVICE_TOKEN_KEY); // a logout or a refused login forgets it everywhere
  } catch {
    /* storage disabled */
  }
  scheduleRefresh();
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const c = claims(token);
  if (!c || !c.exp) return;
  const issued = c.iat ?? nowS();
  const at = issued + (c.exp - issued) * REFRESH_AT;
  refreshTimer = setTimeout(refreshToken, Math.max(0, (at - nowS()) * 1000));
}

function retryRefresh() {
  clearTimeout(refreshTimer);
  const c = claims(token);
  if (!c || !c.exp || c.exp <= nowS()) {
    redirectToLogin();
    return;
  }
  refreshTimer = setTimeout(refreshToken, Math.min(REFRESH_RETRY_MS, (c.exp - nowS()) * 1000));
}

/**
 * Swap the token for a fresh one (done on a timer at 3/4 of its life; callable any time).
 * True when it worked. A refused refresh sends the page to the login.
 */
export async function refreshToken() {
  if (!token) return false;
  try {
    /** @type {TokenResponse} */
    const fresh = await api("/api/auth/refresh", { method: "POST" });
    setToken(fresh.access_token);
    return true;
  } catch (err) {
    if (!(err instanceof HttpError && err.status === 401)) retryRefresh();
    return false;
  }
}

/**
 * Seconds from a `Retry-After` header (a number or an HTTP date), or null.
 * @param {string | null} value
 */
function retryAfter(value) {
  if (!value) return null;
  const s = Number(value);
  if (Number.isFinite(s)) return Math.max(0, s);
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : Math.max(0, (t - Date.now()) / 1000);
}

/**
 * An HttpError from a refused answer, with the hub's `detail` as its text.
 * @param {Response} r
 */
async function decodeError(r) {
  let detail = "";
  try {
    /** @type {ErrorBody} */
    const body = await r.json();
    if (typeof body.detail === "string") detail = body.detail;
    else if (Array.isArray(body.detail)) detail = body.detail.map((d) => d.msg ?? "").filter(Boolean).join("; ");
  } catch {
    /* not JSON */
  }
  return new HttpError(r.status, detail || r.statusText || `HTTP ${r.status}`, retryAfter(r.headers.get("Retry-After")));
}

/**
 * Send a request; the Response when 2xx, else an HttpError (status 0 when the hub is unreachable).
 * With `auth` (the default), a 401 sends the page to the login (once, whatever else is refused).
 * @param {string} path
 * @param {RequestOptions} [options]
 * @returns {Promise<Response>}
 */
export async function request(path, options = {}) {
  const { method = "GET", body, contentType, auth = true, base, signal, keepalive, priority } = options;
  /** @type {Record<string, string>} */
  const headers = { ...options.headers };
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  /** @type {BodyInit | undefined} */
  let payload;
  if (body === undefined) payload = undefined;
  else if ((typeof body === "string" && contentType) || body instanceof Blob || body instanceof FormData) {
    payload = body;
    if (contentType) headers["Content-Type"] = contentType;
  } else {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const early = method === "GET" && auth && !base && body === undefined ? takeEarly(path) : null;
  let r;
  try {
    r = await (early ?? fetch(url(path, base), { method, headers, body: payload, signal, keepalive, priority }));
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new HttpError(0, `cannot reach the hub (${method} ${path})`);
  }
  if (r.ok) return r;
  if (r.status === 401 && auth) redirectToLogin();
  throw await decodeError(r);
}

/**
 * The answer to a GET that the page's first script sent before the modules loaded
 * (pages/worker-boot.js), once, if it went with the token this client holds now; else null.
 * @param {string} path
 * @returns {Promise<Response> | null}
 */
function takeEarly(path) {
  const all = typeof window === "undefined" ? undefined : window.skyhubEarly;
  const early = all?.[path];
  if (!all || !early) return null;
  delete all[path];
  return early.token === token ? early.answer : null;
}

/**
 * A request whose answer is JSON (null for an empty answer such as 204).
 * @param {string} path
 * @param {RequestOptions} [options]
 * @returns {Promise<any>}
 */
export async function api(path, options) {
  const r = await request(path, options);
  const text = await r.text();
  return text ? JSON.parse(text) : null;
}

/**
 * A request whose answer is binary (a snapshot JPEG).
 * @param {string} path
 * @param {RequestOptions} [options]
 */
export async function blob(path, options) {
  return (await request(path, options)).blob();
}

/**
 * Log in; the user on success. A wrong password is an HttpError 401 (it does not redirect); 429
 * and 503 carry `retryAfterS`.
 * @param {string} username
 * @param {string} password
 * @returns {Promise<Me>}
 */
export async function login(username, password) {
  /** @type {TokenResponse} */
  const t = await api("/api/auth/login", { method: "POST", body: { username, password }, auth: false });
  redirecting = false;
  setToken(t.access_token);
  return loadCurrentUser();
}

/** Ask the hub who is logged in, and keep it in {@link currentUser}. */
export async function loadCurrentUser() {
  /** @type {Me} */
  const me = await api("/api/auth/me");
  currentUser.value = me;
  return me;
}

/**
 * End this session on the hub (its feeds close, its calls end, on every node), forget the token
 * and go to the login page (which then returns here). The page leaves even if the hub cannot be
 * reached: the request is sent with `keepalive`, so it outlives the page.
 */
export function logout() {
  const t = getToken();
  if (t) {
    fetch("/api/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${t}` }, keepalive: true }).catch(
      () => {},
    );
  }
  setToken(null);
  currentUser.value = null;
  redirecting = true;
  location.assign(loginUrl());
}

/**
 * After a WebSocket closed without opening: is the login still good? A refused handshake looks
 * like a network error to a page, so ask; a 401 sends the page to the login.
 */
export async function checkSession() {
  if (!hasSession()) {
    redirectToLogin();
    return false;
  }
  try {
    await request("/api/auth/me");
    return true;
  } catch (err) {
    return !(err instanceof HttpError && err.status === 401);
  }
}

/**
 * The WebSocket URL of a hub path, with the current token as `?token=`.
 * @param {string} path
 * @param {Record<string, string | number>} [query]
 */
export function socketUrl(path, query = {}) {
  const u = new URL(url(path), location.href);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, String(v));
  if (token) u.searchParams.set("token", token);
  return u.href;
}

/** Where the user is now, as a path of this site (what `next` should bring them back to). */
export function currentPath() {
  return location.pathname + location.search + location.hash;
}

/**
 * The login page's URL, coming back to `next` afterwards.
 * @param {string} [next]
 */
export function loginUrl(next = currentPath()) {
  const query = new URLSearchParams({ next: safeNext(next) });
  // A language asked for in the address (?lang=zh) holds on the login page too.
  const lang = new URLSearchParams(location.search).get("lang");
  if (lang) query.set("lang", lang);
  return `${LOGIN_PATH}?${query}`;
}

/**
 * `next` when it is a path of this site (not another origin, not the login itself), else `fallback`.
 * @param {string | null | undefined} next
 * @param {string} [fallback]
 */
export function safeNext(next, fallback = "/") {
  if (typeof next !== "string" || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) {
    return fallback;
  }
  try {
    const u = new URL(next, location.origin);
    if (u.origin !== location.origin || u.pathname === LOGIN_PATH) return fallback;
    return u.pathname + u.search + u.hash;
  } catch {
    return fallback;
  }
}

/**
 * Forget the token and go to the login page, coming back to `next` afterwards. However often it
 * is called (many requests refused at once), it navigates once.
 * @param {string} [next]
 */
export function redirectToLogin(next = currentPath()) {
  if (redirecting) return;
  redirecting = true;
  setToken(null);
  currentUser.value = null;
  location.assign(loginUrl(next));
}

scheduleRefresh();

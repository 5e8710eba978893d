// @ts-check
// The worker app's first step: a plain script that runs as soon as it arrives, long before the
// app's modules (a slow link needs several round trips for those). With a login on the phone it
// asks the hub for the inbox now, so that the answer is there when the app starts; the app's HTTP
// client takes it as the answer to its first request for that path (api/client.js). Without a login
// it goes to the login page at once, instead of after loading the whole app. It shares the token's
// storage keys with api/client.js.
(() => {
  // A page's first date or number format costs a phone tens to hundreds of milliseconds (the
  // browser loads its locale data): paid while the page waits for its modules, if it has to wait
  // (the idle time of a start over the network), rather than when the inbox is drawn.
  const prepareFormats = () => {
    try {
      new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" }).format(0);
      new Intl.NumberFormat().format(0);
    } catch {
      // no Intl: nothing to prepare
    }
  };
  if ("requestIdleCallback" in window) requestIdleCallback(prepareFormats);
  const EARLY_PATHS = ["/api/worker/instructions"];
  /** @type {string | null} */
  let token = null;
  try {
    token = sessionStorage.getItem("skyhub.token") ?? localStorage.getItem("skyhub.token.device");
  } catch {
    return; // storage disabled: the app finds out and says so
  }
  let expires = 0;
  try {
    const part = (token ?? "").split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    expires = Number(JSON.parse(atob(part)).exp ?? 0);
  } catch {
    expires = 0;
  }
  if (expires <= Date.now() / 1000) {
    const query = new URLSearchParams({ next: location.pathname + location.search + location.hash });
    const lang = new URLSearchParams(location.search).get("lang");
    if (lang) query.set("lang", lang);
    location.replace(`/login?${query}`);
    return;
  }
  const headers = { Authorization: `Bearer ${token}` };
  /** @param {string} path */
  const ask = (path) => {
    const answer = fetch(path, { headers });
    answer.catch(() => {}); // no network: the app hears of it when it takes the answer, not before
    return { token, answer };
  };
  window.skyhubEarly = Object.fromEntries(EARLY_PATHS.map((p) => [p, ask(p)]));
})();

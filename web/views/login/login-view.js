// @ts-check
// The login form: username and password, errors in an alert, then back to `?next=` (a path of this
// site only; the desk otherwise).
import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { HttpError, login, safeNext } from "../../api/client.js";
import { LanguageSwitch } from "../../components/language-switch.js";
import { t } from "../../i18n.js";

/** The message for a refused login. @param {unknown} err */
function problem(err) {
  if (!(err instanceof HttpError)) return t("login.error.failed", { status: "?" });
  if (err.status === 401) return t("login.error.wrong");
  if (err.status === 429 || err.status === 503) {
    return t("login.error.wait", { seconds: Math.ceil(err.retryAfterS ?? 30) });
  }
  if (err.status === 0) return t("login.error.offline");
  return t("login.error.failed", { status: err.status });
}

export function LoginView() {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const next = safeNext(new URLSearchParams(location.search).get("next"));

  /** @param {SubmitEvent} e */
  const submit = async (e) => {
    e.preventDefault();
    const form = new FormData(/** @type {HTMLFormElement} */ (e.currentTarget));
    setBusy(true);
    setError("");
    try {
      await login(String(form.get("username") ?? ""), String(form.get("password") ?? ""));
      location.replace(next);
    } catch (err) {
      setError(problem(err));
      setBusy(false);
    }
  };

  return html`<div class="login-page">
    <header class="login-top">
      <${LanguageSwitch} />
    </header>
    <main class="login-card">
      <h1 class="brand">${t("common.appName")}</h1>
      <p class="login-lead">${t("login.lead")}</p>
      <form class="login-form" onSubmit=${submit} aria-describedby="login-error">
        <label for="login-username">${t("login.username")}</label>
        <input id="login-username" name="username" autocomplete="username" required autofocus />
        <label for="login-password">${t("login.password")}</label>
        <input id="login-password" name="password" type="password" autocomplete="current-password" required />
        <button type="submit" class="primary" disabled=${busy}>${busy ? t("login.submitting") : t("login.submit")}</button>
        <p id="login-error" class="form-error" role="alert">${error}</p>
      </form>
    </main>
  </div>`;
}

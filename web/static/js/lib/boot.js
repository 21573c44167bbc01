// What every page does first: settings, the API with its session, the app bar and a 1 s tick.
import { Api } from "./api.js";
import { tick } from "./deadline.js";
import { h } from "./dom.js";
import { applyI18n, setTimeZone, t } from "./i18n.js";
import { appBar, forget, signIn, statusPill } from "./session.js";

/** GET /api/v1/web/config, or the copy kept from the last visit when offline. */
async function loadConfig() {
  try {
    const res = await fetch("/api/v1/web/config", { cache: "no-store" });
    if (!res.ok) throw new Error(res.statusText);
    const cfg = await res.json();
    localStorage.setItem("gd.config", JSON.stringify(cfg));
    return cfg;
  } catch (err) {
    const kept = JSON.parse(localStorage.getItem("gd.config") || "null");
    if (!kept) throw err;
    return kept;
  }
}

export async function boot({ page, roles, offline = false, extra = () => [] }) {
  applyI18n();
  const config = await loadConfig();
  setTimeZone(config.timezone);
  document.title = `${t(`page.${page}`)} · ${t("app.name")}`;
  const api = new Api({
    onUnauthorized: () => {
      forget(page);
      location.reload();
    },
  });
  const user = await signIn(api, { page, roles, offline });
  const pill = statusPill();
  const bar = appBar({ page, user, api, pill, extra: extra(user) });
  const main = h("main.app-main");
  const app = document.getElementById("app");
  app.replaceChildren(bar, main);
  setInterval(() => tick(), 1000);
  return { config, api, user, pill, main, bar };
}

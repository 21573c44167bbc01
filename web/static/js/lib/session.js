// Sign-in, the kept session (token + user in localStorage, per page) and the app bar.
import { ApiError } from "./api.js";
import { fill, h, icon } from "./dom.js";
import { applyI18n, lang, onLangChange, setLang, t } from "./i18n.js";

const key = (page) => `gd.session.${page}`;

/**
 * Resolve with the signed-in user of this page, showing the sign-in card when needed.
 * With `offline: true` a kept session is trusted when the server cannot be reached.
 */
export async function signIn(api, { page, roles, offline = false }) {
  const kept = JSON.parse(localStorage.getItem(key(page)) || "null");
  if (kept?.token) {
    api.token = kept.token;
    try {
      const user = await api.get("/auth/me");
      if (roles.includes(user.role)) return remember(page, kept.token, user);
    } catch (err) {
      if (offline && err instanceof ApiError && err.status === 0) return kept.user;
    }
    localStorage.removeItem(key(page));
    api.token = null;
  }
  return new Promise((resolve) => showCard(api, page, roles, resolve));
}

function remember(page, token, user) {
  localStorage.setItem(key(page), JSON.stringify({ token, user }));
  return user;
}

export function forget(page) {
  localStorage.removeItem(key(page));
}

function showCard(api, page, roles, resolve) {
  const error = h("p.form-error", { role: "alert" });
  const user = h("input", { name: "username", autocomplete: "username", required: true, autocapitalize: "off", "data-i18n-placeholder": "signin.username" });
  const pass = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, "data-i18n-placeholder": "signin.password" });
  const button = h("button.primary.block", { type: "submit", "data-i18n": "signin.submit" });
  const form = h(
    "form.signin-card",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        button.disabled = true;
        error.textContent = "";
        try {
          const out = await api.login(user.value.trim(), pass.value);
          if (!roles.includes(out.user.role)) {
            await api.logout().catch(() => {});
            throw new ApiError(403, "wrong_role", t("signin.wrong_role"));
          }
          screen.remove();
          resolve(remember(page, out.access_token, out.user));
        } catch (err) {
          error.textContent =
            err.status === 401 ? t("signin.bad") : err.status === 0 ? t("signin.offline") : err.message;
        } finally {
          button.disabled = false;
        }
      },
    },
    h("div.brand", h("img", { src: "/static/img/logo.svg", alt: "" }), h("div", h("strong", { "data-i18n": "app.name" }), h("span", { "data-i18n": `page.${page}` }))),
    h("label", h("span", { "data-i18n": "signin.username" }), user),
    h("label", h("span", { "data-i18n": "signin.password" }), pass),
    error,
    button,
    langSwitch()
  );
  const screen = h("div.signin-screen", form);
  document.body.append(screen);
  applyI18n(screen);
  user.focus();
}

/** 中 / EN toggle */
export function langSwitch() {
  const b = h("button.lang.ghost", { type: "button", title: "语言 / Language" });
  const render = () => (b.textContent = lang() === "zh" ? "EN" : "中文");
  b.addEventListener("click", () => {
    setLang(lang() === "zh" ? "en" : "zh");
    for (const other of document.querySelectorAll("button.lang")) other.textContent = lang() === "zh" ? "EN" : "中文";
  });
  render();
  return b;
}

/** The connection pill: live (feed open), connecting, offline. */
export function statusPill() {
  const el = h("span.pill.status", { role: "status" });
  const set = (state) => {
    el.dataset.state = state;
    fill(el, h("i.dot"), h("span", t(`conn.${state}`)));
  };
  set(navigator.onLine ? "connecting" : "offline");
  onLangChange(() => set(el.dataset.state));
  el.set = set;
  return el;
}

/** The top bar: logo, page title, connection state, language, user and sign-out. */
export function appBar({ page, user, api, pill, extra = [] }) {
  const out = h("button.ghost.icon-only", {
    type: "button",
    "data-i18n-title": "signin.out",
    onclick: async () => {
      await api.logout().catch(() => {});
      forget(page);
      location.reload();
    },
  }, icon("log-out"));
  const bar = h(
    "header.appbar",
    h("div.brand", h("img", { src: "/static/img/logo.svg", alt: "" }), h("div", h("strong", { "data-i18n": `page.${page}` }), h("span.sub", { "data-i18n": "app.name" }))),
    h("div.spacer"),
    ...extra,
    pill,
    langSwitch(),
    h("span.user", icon("user"), user.username),
    out
  );
  applyI18n(bar);
  return bar;
}

// /report: the grid worker's phone page (上报 · 我的上报 · 核查).
import { Catalogue } from "../lib/catalogue.js";
import { boot } from "../lib/boot.js";
import { h, icon, toast } from "../lib/dom.js";
import { Feed } from "../lib/feed.js";
import { onLangChange, t } from "../lib/i18n.js";
import { flush, noteCase, onOutboxChange } from "../lib/outbox.js";
import { checkList } from "./check.js";
import { reportForm } from "./form.js";
import { myReports } from "./mine.js";

const RETRY_MS = 20000;

async function main() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/report/sw.js", { scope: "/report" }).catch(() => {});
  }
  const { config, api, user, pill, main: root } = await boot({ page: "report", roles: ["worker", "dispatcher", "admin"], offline: true });
  const catalogue = await Catalogue.load(api);

  const form = reportForm({ api, config, catalogue, user, onQueued: () => show("mine") });
  const mine = myReports({ api, user });
  const checks = user.role === "worker" ? checkList({ api, catalogue, config }) : null;
  const views = { form, mine, ...(checks ? { checks } : {}) };
  const tabs = {};
  const nav = h("nav.tabbar");
  for (const [name, ic] of [["form", "send"], ["mine", "list"], ["checks", "shield-check"]]) {
    if (!views[name]) continue;
    tabs[name] = h("button.tab", { type: "button", dataset: { view: name }, onclick: () => show(name) }, icon(ic), h("span", { "data-i18n": `tab.${name}` }, t(`tab.${name}`)), h("b.count", { hidden: true }));
    nav.append(tabs[name]);
  }
  for (const [name, v] of Object.entries(views)) {
    v.classList.add("view");
    v.dataset.view = name;
    v.addEventListener("count", (e) => {
      const b = tabs[name].querySelector(".count");
      b.hidden = !e.detail;
      b.textContent = e.detail;
    });
  }
  root.append(...Object.values(views));
  document.getElementById("app").append(nav);

  function show(name) {
    for (const [n, v] of Object.entries(views)) {
      v.hidden = n !== name;
      tabs[n].classList.toggle("active", n === name);
      tabs[n].setAttribute("aria-selected", n === name);
    }
    if (name === "form") form.shown();
    else views[name].render();
    scrollTo(0, 0);
  }
  show("form");
  form.start();
  onOutboxChange(() => mine.render());
  mine.render();

  const send = async () => {
    if (!navigator.onLine) return;
    const r = await flush(api, user.username);
    if (r === "auth") toast(t("out.signin_again"), "warn", 8000);
  };
  addEventListener("online", send);
  setInterval(send, RETRY_MS);
  send();

  const refreshAll = () => {
    checks?.render();
    refreshStatuses();
  };
  async function refreshStatuses() {
    try {
      const page = await api.get("/cases", { limit: 200 });
      for (const c of page.items) await noteCase(user.username, c);
    } catch {
      /* offline */
    }
  }
  const feed = new Feed({
    api,
    onSnapshot: refreshAll,
    onEvent: async (ev) => {
      if (ev.case) await noteCase(user.username, { id: ev.case_id, status: ev.case.status });
      if (checks && ev.type.startsWith("case.")) checks.render();
    },
    onState: (s) => {
      pill.set(s);
      if (s === "live") send();
    },
    onAuthLost: () => toast(t("out.signin_again"), "warn", 8000),
  });
  feed.start().catch(() => feed.connect());
  onLangChange(() => { form.querySelectorAll(".picker-button").forEach((b) => b.rerender?.()); mine.render(); checks?.render(); });
}

main().catch((err) => {
  console.error(err);
  document.getElementById("app").textContent = String(err.message || err);
});

// /command: the command center's wall screen: the live city map and its side panel.
import { boot } from "../lib/boot.js";
import { Catalogue } from "../lib/catalogue.js";
import { h, icon, toast } from "../lib/dom.js";
import { Feed } from "../lib/feed.js";
import { fmtTime, onLangChange, t, tr } from "../lib/i18n.js";
import { createCityMap } from "../lib/map.js";
import { caseDrawer } from "./casecard.js";
import { FiguresView, STATS_ROLES } from "./figures.js";
import { filterBar } from "./filters.js";
import { HotspotLayer } from "./hotspots.js";
import { CaseMarkers } from "./markers.js";
import { Panel } from "./panel.js";
import { CaseStore } from "./store.js";

async function main() {
  const clock = h("span.clock");
  const tabs = h("nav.view-tabs", ["live", "figures"].map((v) =>
    h("button", { type: "button", dataset: { view: v }, onclick: () => setView(v) }, icon(v === "live" ? "map" : "chart-column"), tr(`view.${v}`))));
  const { config, api, user, pill, main: root } = await boot({
    page: "command",
    roles: ["dispatcher", "commander", "admin"],
    extra: (u) => (STATS_ROLES.includes(u.role) ? [tabs, clock] : [clock]),
  });
  setInterval(() => (clock.textContent = fmtTime(new Date().toISOString(), { seconds: true })), 1000);
  const catalogue = await Catalogue.load(api);
  const store = new CaseStore();

  const mapEl = h("div.city-map");
  const legend = h("div.legend",
    ...["reported", "dispatched", "verifying", "closed"].map((s) => h("span", h(`i.swatch.st-${s}`), tr(`case.${s}`))),
    h("span.sep"),
    ...["green", "yellow", "red"].map((s) => h("span", h(`i.ring.dl-${s}`), tr(`light.${s}`))));
  const drawer = caseDrawer({ api, catalogue, user, onFocus: (c) => focus(c) });
  // centre the case in the part of the map the drawer leaves free
  function focus(c) {
    const zoom = Math.max(city.map.getZoom(), 15);
    const free = drawer.offsetWidth < mapEl.offsetWidth * 0.8 ? drawer.offsetWidth / 2 : 0;
    const p = city.map.project(city.latlng(c.location.lon, c.location.lat), zoom).add([free, 0]);
    city.map.flyTo(city.map.unproject(p, zoom), zoom, { duration: 0.6 });
  }
  const panel = new Panel({ api, catalogue, store, onOpen: (id) => drawer.open(id) });
  const filters = filterBar(catalogue, (pred) => {
    markers.setFilter(pred);
    panel.filter = pred;
    panel.render();
  });
  const hotButton = h("button.hot-toggle", { type: "button", "aria-pressed": "false", onclick: () => toggleHot() }, icon("flame"), tr("fig.hot_layer"));
  filters.append(hotButton);
  const stage = h("div.map-stage", mapEl, filters, legend, drawer);
  const layout = h("div.command-layout", stage, panel.el);
  root.append(layout);

  const city = await createCityMap(mapEl, { api, config, levels: ["district", "street", "community"], dark: true });
  city.areas.district?.then((gj) => {
    panel.setDistricts(gj);
    filters.setDistricts(gj);
  });
  const markers = new CaseMarkers(city, catalogue, (id) => drawer.open(id));

  // the figures view, and its hotspot layer on the live map (toggled, with its legend)
  const figures = STATS_ROLES.includes(user.role) ? new FiguresView({ api, config, catalogue, districts: city.areas.district }) : null;
  const liveHot = new HotspotLayer(city, {});
  stage.append(liveHot.legendEl);
  if (figures) {
    root.append(figures.el);
    figures.onHot((data) => liveHot.draw(data));
  } else {
    hotButton.hidden = true;
  }
  function toggleHot(on = !liveHot.visible) {
    liveHot.show(on);
    hotButton.setAttribute("aria-pressed", String(on));
    hotButton.classList.toggle("active", on);
    if (on) figures.hot().catch(() => {});
  }
  function setView(view) {
    if (!figures) return;
    for (const b of tabs.querySelectorAll("button")) {
      b.classList.toggle("active", b.dataset.view === view);
      b.setAttribute("aria-pressed", String(b.dataset.view === view));
    }
    layout.hidden = view !== "live";
    history.replaceState(null, "", view === "live" ? location.pathname : "#figures");
    if (view === "live") {
      figures.hide();
      city.map.invalidateSize();
    } else {
      figures.show().catch((err) => toast(t("fig.load_failed", { m: err.message }), "error"));
    }
  }
  setView(location.hash === "#figures" ? "figures" : "live");

  store.on((kind, c, ev) => {
    if (kind === "reset") return markers.reset(store.cases.values());
    if (kind === "gone") {
      markers.gone(c);
      if (c.status === "closed") markers.pulse(c, "closed");
    } else {
      markers.upsert(c);
      if (kind === "new" || ev?.type === "case.reported") markers.pulse(c, "new");
    }
  });

  const feed = new Feed({
    api,
    onSnapshot: (snap) => {
      store.load(snap);
      panel.render();
      panel.loadToday().catch(() => {});
    },
    history: 40,
    onHistory: (ev) => panel.streamItem(ev, null),
    onEvent: (ev) => {
      const c = store.apply(ev);
      panel.event(ev, c);
      if (drawer.current() === ev.case_id) drawer.open(ev.case_id);
    },
    onState: (s) => pill.set(s),
    onAuthLost: () => location.reload(),
  });
  await feed.start().catch(() => feed.connect());
  setInterval(() => {
    markers.refresh();
    panel.render();
  }, 15000);
  setInterval(() => liveHot.visible && figures?.el.hidden && figures.hot().catch(() => {}), 60000);
  onLangChange(() => panel.render());
}

main().catch((err) => {
  console.error(err);
  document.getElementById("app").append(h("p.fatal", icon("triangle-alert"), String(err.message || err)));
});

// The command center's figures view (绩效评价): a period (this month, last month, chosen days),
// a district and an event class; the scope's key figures, the league table of units, the
// daily trend, the hotspot map with the repeat places, the league as CSV/XLSX and the
// printable monthly district report. Everything comes from GET /api/v1/stats/… (docs/api.md).
import { eventIcon } from "../lib/catalogue.js";
import { coalesce, fill, h, icon, sheet, toast } from "../lib/dom.js";
import { fmtTime, onLangChange, pick, t, tr } from "../lib/i18n.js";
import { createCityMap } from "../lib/map.js";
import { HotspotLayer } from "./hotspots.js";
import { AREA_COLUMNS, band, LeagueTable, num, pct } from "./league.js";
import { fmtDay, fmtPeriod, localDay, periodOf } from "./period.js";
import { drawTrend, SERIES } from "./trend.js";

/** Who may see the figures of the whole city (dispatch/stats/service.py check_access). */
export const STATS_ROLES = ["dispatcher", "commander", "admin"];
const REFRESH_MS = 60000; // the rollup recomputes today's figures every minute
const HOT_LIMIT = 3000;
const REPEATS_SHOWN = 40;
/** rates that enter the score as 1 − r (dispatch/stats/figures.py LOWER_IS_BETTER) */
const LOWER_IS_BETTER = new Set(["rework_rate", "extension_rate"]);

const KPIS = [
  ["reports", (x) => num(x.counts.reports)],
  ["registered", (x) => num(x.counts.registered)],
  ["closed", (x) => num(x.counts.closed)],
  ["closure_rate", (x) => pct(x.rates.closure_rate), (x) => band(x.rates.closure_rate)],
  ["on_time_closure_rate", (x) => pct(x.rates.on_time_closure_rate), (x) => band(x.rates.on_time_closure_rate)],
  ["rework_rate", (x) => pct(x.rates.rework_rate), (x) => band(x.rates.rework_rate, true)],
  ["dispatch_accuracy", (x) => pct(x.rates.dispatch_accuracy), (x) => band(x.rates.dispatch_accuracy)],
  ["overdue_now", (x) => num(x.overdue_now), (x) => (x.overdue_now ? "poor" : "good")],
];

export class FiguresView {
  constructor({ api, config, catalogue, districts }) {
    Object.assign(this, { api, config, catalogue });
    const today = localDay();
    this.q = { period: "month", custom: { from: periodOf("month", null, today).from, to: today }, area: "", cls: "", mode: "cells", min: 3, unit: null };
    this.districts = new Map();
    this.hotListeners = new Set();
    this.league = new LeagueTable({ onPick: (r) => this.pickUnit(r.key) });
    this.areas = new LeagueTable({ columns: AREA_COLUMNS, sort: { key: "reports", dir: -1 }, rowKey: "area", empty: "fig.no_areas", onPick: (r) => this.drill(r) });
    this.el = h("section.figures-view", { hidden: true, "aria-label": t("view.figures") }, this.toolbar(), this.kpis = h("div.fig-kpis"), this.boxes());
    districts.then((gj) => {
      for (const f of gj.features) {
        this.districts.set(f.properties.code, f.properties);
        this.areaSel.append(h("option", { value: f.properties.code }, pick(f.properties)));
      }
    });
    this.load = coalesce(() => this.loadAll());
    this.hot = coalesce(() => this.loadHot());
    onLangChange(() => this.relabel());
  }

  // ------------------------------------------------------------------ the controls

  toolbar() {
    const seg = h("div.seg.period", ["month", "last", "custom"].map((p) => h("button", { type: "button", dataset: { period: p }, class: p === this.q.period ? "active" : null, onclick: () => this.setPeriod(p) }, tr(`fig.p_${p}`))));
    const date = (name) => h("input", { type: "date", name, value: this.q.custom[name], max: localDay(), onchange: (e) => this.setCustom(name, e.target.value) });
    this.customEl = h("span.custom-days", { hidden: true }, date("from"), h("span", "–"), date("to"));
    this.areaSel = h("select", { name: "area", "aria-label": t("fig.area"), onchange: (e) => this.change({ area: e.target.value }) }, h("option", { value: "" }, t("fig.city")));
    this.clsSel = h("select", { name: "class", "aria-label": t("cmd.f_class"), onchange: (e) => this.change({ cls: e.target.value }) },
      h("option", { value: "" }, t("cmd.f_class")), this.catalogue.groups.map((g) => h("option", { value: g.class_code }, `${g.class_code} ${pick(g, "class")}`)));
    this.scopeEl = h("span.scope");
    this.asofEl = h("span.asof");
    const button = (act, ic, key, run) => h("button.tool", { type: "button", dataset: { act }, onclick: run }, icon(ic), tr(key));
    return h("div.fig-toolbar",
      icon("calendar-days"), seg, this.customEl, this.areaSel, this.clsSel, this.scopeEl, h("div.spacer"), this.asofEl,
      button("csv", "download", "fig.csv", () => this.download("csv")),
      button("xlsx", "file-spreadsheet", "fig.xlsx", () => this.download("xlsx")),
      button("report", "printer", "fig.report", () => this.reportSheet()));
  }

  boxes() {
    const box = (cls, ic, key, extra, body) => h(`section.fig-box.${cls}`, h("header", icon(ic), h("h2", tr(key)), extra), body);
    this.leagueInfo = h("span.info");
    this.areasInfo = h("span.info");
    this.trendInfo = h("span.info");
    this.trendEl = h("div.trend-chart");
    this.trendKeys = h("div.trend-keys");
    const modes = h("div.seg.hot-mode", ["cells", "streets"].map((m) => h("button", { type: "button", dataset: { mode: m }, class: m === this.q.mode ? "active" : null, onclick: (e) => {
      modes.querySelectorAll("button").forEach((b) => b.classList.toggle("active", b === e.currentTarget));
      this.change({ mode: m }, { hotOnly: true });
    } }, tr(`fig.hot_${m}`))));
    this.mapEl = h("div.hot-map");
    this.repeatsEl = h("ol.repeat-list");
    this.repeatInfo = h("span.info");
    new ResizeObserver(() => this.last && drawTrend(this.trendEl, this.last.days.rows)).observe(this.trendEl);
    return h("div.fig-grid",
      box("league", "trophy", "fig.league", this.leagueInfo, this.league.el),
      box("areas", "map", "fig.areas", this.areasInfo, this.areas.el),
      box("trend", "chart-column", "fig.trend", [this.trendInfo, this.trendKeys], this.trendEl),
      box("hot", "flame", "fig.hot", modes, this.mapEl),
      box("repeats", "repeat", "fig.repeats", this.repeatInfo, this.repeatsEl));
  }

  setPeriod(p) {
    this.el.querySelectorAll(".period button").forEach((b) => b.classList.toggle("active", b.dataset.period === p));
    this.customEl.hidden = p !== "custom";
    this.change({ period: p });
  }

  setCustom(name, value) {
    if (!value) return;
    const custom = { ...this.q.custom, [name]: value };
    if (custom.from > custom.to) custom[name === "from" ? "to" : "from"] = value;
    for (const input of this.customEl.querySelectorAll("input")) input.value = custom[input.name];
    this.change({ custom });
  }

  change(patch, { hotOnly = false } = {}) {
    Object.assign(this.q, patch);
    (hotOnly ? this.hot() : this.load()).catch(() => {});
  }

  /** A district's row opens that district (its streets, its units, its hotspots). */
  drill(row) {
    if (row.group !== "district") return;
    this.areaSel.value = row.key;
    this.change({ area: row.key });
  }

  pickUnit(key) {
    this.q.unit = this.q.unit === key ? null : key;
    this.league.picked = this.q.unit;
    this.load().catch(() => {});
  }

  /** The API query of the current choice: {from, to, area, class}. */
  query() {
    const { from, to } = periodOf(this.q.period, this.q.custom);
    return { from, to, area: this.q.area, class: this.q.cls };
  }

  periodLabel() {
    const q = this.query();
    return this.q.period === "custom" ? fmtPeriod(q) : `${t(`fig.p_${this.q.period}`)} · ${fmtPeriod(q)}`;
  }

  // ------------------------------------------------------------------ loading

  async loadAll() {
    const q = this.query();
    this.el.classList.add("busy");
    try {
      const [units, areas, days, repeats] = await Promise.all([
        this.api.get("/stats/units", q),
        this.api.get("/stats/areas", q),
        this.api.get("/stats/days", { ...q, unit: this.q.unit }),
        this.api.get("/stats/hotspots/repeats", { ...q, min_cases: this.q.min, limit: REPEATS_SHOWN }),
        this.hot(),
      ]);
      this.last = { q, units, areas, days, repeats };
      this.render(this.last);
    } catch (err) {
      if (err.status !== 401) toast(t("fig.load_failed", { m: err.message }), "error");
      throw err;
    } finally {
      this.el.classList.remove("busy");
    }
  }

  /** The hotspot GeoJSON of the current choice, drawn here and handed to every listener. */
  async loadHot() {
    const q = this.query();
    const mode = this.q.mode;
    const geojson = mode === "streets"
      ? await this.api.get("/stats/hotspots/streets", q)
      : await this.api.get("/stats/hotspots/cells", { ...q, limit: HOT_LIMIT });
    const data = { mode, geojson, label: this.periodLabel() };
    const moved = JSON.stringify([q, mode]) !== this.hotKey;
    this.hotKey = JSON.stringify([q, mode]);
    this.hotData = data;
    this.hotLayer?.draw(data);
    if (moved) this.hotLayer?.fit();
    for (const fn of this.hotListeners) fn(data);
    return data;
  }

  onHot(fn) {
    this.hotListeners.add(fn);
    if (this.hotData) fn(this.hotData);
  }

  // ------------------------------------------------------------------ drawing

  /** The language changed: option labels, the hotspot legends, everything drawn. */
  relabel() {
    for (const o of this.areaSel.options) o.textContent = o.value ? pick(this.districts.get(o.value)) : t("fig.city");
    const groups = new Map(this.catalogue.groups.map((g) => [g.class_code, g]));
    for (const o of this.clsSel.options) o.textContent = o.value ? `${o.value} ${pick(groups.get(o.value), "class")}` : t("cmd.f_class");
    if (this.hotData) {
      this.hotData.label = this.periodLabel();
      this.hotLayer?.draw(this.hotData);
      for (const fn of this.hotListeners) fn(this.hotData);
    }
    if (this.last) this.render(this.last);
  }

  render({ q, units, areas, days, repeats }) {
    const area = q.area ? pick(this.districts.get(q.area)) || q.area : t("fig.city");
    fill(this.scopeEl, h("b", area), ` · ${this.periodLabel()}`);
    const at = units.rolled_up_at ? fmtTime(units.rolled_up_at) : "—";
    fill(this.asofEl, icon("clock"), t("fig.asof", { at }), units.sealed_through ? h("small", t("fig.sealed", { d: fmtDay(units.sealed_through) })) : null);
    const total = units.total;
    fill(this.kpis, KPIS.map(([key, value, tone]) => h("div.fig-kpi", { dataset: { key, band: tone && total ? tone(total) : null } },
      h("b", total ? value(total) : "—"), h("span", t(`fig.k.${key}`)))));
    this.league.render(units);
    const w = units.weights || {};
    const rates = Object.fromEntries(units.labels.rates.map((l) => [l.key, pick({ name_zh: l.zh, name_en: l.en })]));
    fill(this.leagueInfo, t("fig.n_units", { n: units.rows.length }), h("small", { title: t("fig.score_is") }, icon("circle-help"),
      ` ${t("fig.score_is")} ${Object.entries(w).map(([k, v]) => `${LOWER_IS_BETTER.has(k) ? `(1−${rates[k] || k})` : rates[k] || k}×${v}`).join(" + ")}`));
    this.areas.render(areas);
    fill(this.areasInfo, t(q.area ? "fig.streets_of" : "fig.districts_of", { area }), q.area ? null : h("small", t("fig.drill")));
    this.renderTrend(days);
    this.renderRepeats(repeats);
  }

  renderTrend(days) {
    const sum = (key) => days.rows.reduce((s, r) => s + (r.counts[key] || 0), 0);
    fill(this.trendKeys, SERIES.map((s) => h(`span.key.k-${s.key}`, h("i"), t(`fig.s.${s.key}`), h("b", num(sum(s.key))))));
    const unit = this.q.unit ? this.catalogue.unitName(this.q.unit) : null;
    fill(this.trendInfo, unit ? h("button.chip", { type: "button", onclick: () => this.pickUnit(this.q.unit) }, unit, icon("x")) : t("fig.n_days", { n: days.rows.length }));
    drawTrend(this.trendEl, days.rows);
  }

  renderRepeats(gj) {
    const feats = gj.features;
    fill(this.repeatInfo, t("fig.repeats_min", { n: this.q.min }), h("b.count", feats.length < REPEATS_SHOWN ? feats.length : `${REPEATS_SHOWN}+`));
    const streets = this.streetNames || new Map();
    fill(this.repeatsEl, feats.length ? feats.map((f) => {
      const p = f.properties;
      const et = this.catalogue.type(p.event_type);
      const street = streets.get(p.street);
      return h("li", { dataset: { cell: p.cell, type: p.event_type }, onclick: () => this.hotLayer?.focusCell(p.cell) },
        eventIcon(et, "small"),
        h("div", h("strong", pick(p)), h("span", [street ? pick(street) : p.street, t("fig.cell", { code: p.cell })].join(" · "))),
        h("div.when", h("b", t("fig.cases_n", { n: p.cases })), h("span", fmtPeriod({ from: localDay(new Date(p.first)), to: localDay(new Date(p.last)) }))));
    }) : h("li.empty", icon("circle-check"), tr("fig.no_repeats")));
  }

  // ------------------------------------------------------------------ showing

  async show() {
    this.el.hidden = false;
    if (!this.city) {
      this.city = await createCityMap(this.mapEl, { api: this.api, config: this.config, levels: ["district", "street"], cells: false, dark: true });
      this.hotLayer = new HotspotLayer(this.city, {});
      this.hotLayer.show(true);
      this.mapEl.append(this.hotLayer.legendEl);
      this.city.areas.street?.then((gj) => {
        this.streetNames = new Map(gj.features.map((f) => [f.properties.code, f.properties]));
        if (this.last) this.renderRepeats(this.last.repeats);
      });
      if (this.hotData) {
        this.hotLayer.draw(this.hotData);
        this.hotLayer.fit();
      }
    } else {
      this.city.map.invalidateSize();
    }
    this.timer ||= setInterval(() => this.load().catch(() => {}), REFRESH_MS);
    await this.load().catch(() => {});
  }

  hide() {
    this.el.hidden = true;
    clearInterval(this.timer);
    this.timer = null;
  }

  // ------------------------------------------------------------------ downloads, report

  async download(fmt) {
    const q = this.query();
    try {
      const blob = await this.api.get("/stats/units", { ...q, format: fmt });
      const name = `stats-units-${q.from}_${q.to}${q.area ? `-${q.area}` : ""}${q.class ? `-class${q.class}` : ""}.${fmt}`;
      const a = h("a", { href: URL.createObjectURL(blob), download: name, hidden: true });
      document.body.append(a);
      a.click();
      setTimeout(() => (URL.revokeObjectURL(a.href), a.remove()), 10000);
    } catch (err) {
      toast(t("fig.load_failed", { m: err.message }), "error");
    }
  }

  reportSheet() {
    const district = h("select", { name: "district" }, [...this.districts.entries()].map(([code, p]) => h("option", { value: code, selected: code === this.q.area }, pick(p))));
    const month = h("input", { type: "month", name: "month", value: this.query().from.slice(0, 7), max: localDay().slice(0, 7), required: true });
    sheet(t("fig.report_title"), [h("label.field", t("fig.report_district"), district), h("label.field", t("fig.report_month"), month), h("p.muted", t("fig.report_hint"))], {
      actions: [{ label: t("fig.report_open"), kind: "primary", run: (close) => {
        if (!month.value) return;
        this.openReport(district.value, month.value);
        close(true);
      } }],
    });
  }

  /** The report needs the bearer token: fetch it, then show it in a window of its own. */
  async openReport(district, month) {
    const win = window.open("", "_blank"); // opened in the click, so no pop-up blocker stops it
    try {
      const blob = await this.api.get("/stats/report.html", { district, month });
      const url = URL.createObjectURL(new Blob([await blob.text()], { type: "text/html;charset=utf-8" }));
      if (win) win.location.href = url;
      else location.assign(url);
    } catch (err) {
      win?.close();
      toast(t("fig.report_failed", { m: err.message }), "error");
    }
  }
}

// The league table of units (单位绩效排名): rank, composite score and the rates the city
// judges units by, with the counts behind them; sortable by any column (empty figures last).
// The same table, with other columns, compares the areas (districts, or a district's streets).
import { fill, h, icon } from "../lib/dom.js";
import { lang, pick, t } from "../lib/i18n.js";

/** "50.0%", "—" for a rate with no denominator */
export const pct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);
export const num = (v) => (v === null || v === undefined ? "—" : Number(v).toLocaleString(lang() === "zh" ? "zh-CN" : "en-GB"));

/** Presentation bands only (the figures themselves are the API's): good / fair / poor. */
const GOOD = { high: [0.95, 0.8], low: [0.05, 0.15] };
export function band(v, lowerIsBetter = false) {
  if (v === null || v === undefined) return "none";
  if (lowerIsBetter) return v <= GOOD.low[0] ? "good" : v <= GOOD.low[1] ? "fair" : "poor";
  return v >= GOOD.high[0] ? "good" : v >= GOOD.high[1] ? "fair" : "poor";
}
export const scoreBand = (s) => (s === null || s === undefined ? "none" : s >= 90 ? "good" : s >= 75 ? "fair" : s >= 60 ? "low" : "poor");

const rate = (key, lower = false) => ({ key, get: (r) => r.rates[key], kind: "rate", lower, dir: lower ? 1 : -1, full: (L) => L.rates[key] });
const count = (key, get = (r) => r.counts[key]) => ({ key, get, kind: "count", dir: -1, full: (L) => L.counts[key] });

/** the units' league */
export const UNIT_COLUMNS = [
  { key: "rank", get: (r) => r.rank, kind: "rank", dir: 1 },
  { key: "unit", get: (r) => pick(r), kind: "text", dir: 1 },
  { key: "score", get: (r) => r.score, kind: "score", dir: -1 },
  rate("closure_rate"),
  rate("on_time_closure_rate"),
  rate("rework_rate", true),
  rate("dispatch_accuracy"),
  rate("extension_rate", true),
  count("registered"),
  count("closed"),
  count("tickets"),
  count("overdue"),
  { key: "overdue_now", get: (r) => r.overdue_now, kind: "count", dir: -1 },
];

/** the areas' comparison */
export const AREA_COLUMNS = [
  { key: "area", get: (r) => pick(r), kind: "text", dir: 1 },
  count("reports"),
  count("registered"),
  count("closed"),
  rate("closure_rate"),
  rate("on_time_closure_rate"),
  rate("rework_rate", true),
  rate("dispatch_accuracy"),
  { key: "overdue_now", get: (r) => r.overdue_now, kind: "count", dir: -1 },
];

export class LeagueTable {
  /** columns: UNIT_COLUMNS or AREA_COLUMNS; rowKey names each row's data attribute. */
  constructor({ columns = UNIT_COLUMNS, sort = { key: "rank", dir: 1 }, rowKey = "unit", empty = "fig.no_units", onPick } = {}) {
    Object.assign(this, { columns, sort, rowKey, empty, onPick });
    this.picked = null;
    this.el = h("div.league-wrap");
    this.table = null;
  }

  sorted(rows) {
    const col = this.columns.find((c) => c.key === this.sort.key);
    const dir = this.sort.dir;
    return [...rows].sort((a, b) => {
      const va = col.get(a);
      const vb = col.get(b);
      const na = va === null || va === undefined;
      const nb = vb === null || vb === undefined;
      if (na || nb) return na === nb ? a.key.localeCompare(b.key) : na ? 1 : -1; // empty last
      const d = col.kind === "text" ? String(va).localeCompare(String(vb), lang() === "zh" ? "zh-CN" : "en") : va - vb;
      return d * dir || (a.rank ?? 1e9) - (b.rank ?? 1e9) || a.key.localeCompare(b.key);
    });
  }

  sortBy(key) {
    const col = this.columns.find((c) => c.key === key);
    this.sort = this.sort.key === key ? { key, dir: -this.sort.dir } : { key, dir: col.dir };
    this.render(this.table);
  }

  render(table) {
    this.table = table;
    if (!table) return;
    const L = labels(table);
    const head = h("tr", this.columns.map((c) => {
      const active = this.sort.key === c.key;
      const arrow = active ? icon(this.sort.dir > 0 ? "arrow-up" : "arrow-down", "sort") : null;
      return h(`th.col-${c.kind}`, {
        dataset: { col: c.key },
        title: c.full ? c.full(L) : null,
        "aria-sort": active ? (this.sort.dir > 0 ? "ascending" : "descending") : null,
        onclick: () => this.sortBy(c.key),
      }, h("span", t(`fig.col.${c.key}`)), arrow);
    }));
    const body = table.rows.length
      ? this.sorted(table.rows).map((r) => this.row(r))
      : h("tr", h("td.empty", { colspan: this.columns.length }, t(this.empty)));
    fill(this.el, h(`table.league.by-${this.rowKey}`, h("thead", head), h("tbody", body)));
  }

  row(r) {
    const cells = this.columns.map((c) => {
      const v = c.get(r);
      if (c.kind === "rank") {
        return h("td.col-rank", { dataset: { col: c.key } }, v ? h(`span.rank${v <= 3 ? `.top.top-${v}` : ""}`, v) : h("span.rank.none", "—"));
      }
      if (c.kind === "text") return h("td.col-text", { dataset: { col: c.key }, title: v }, v);
      if (c.kind === "score") {
        const b = scoreBand(v);
        return h("td.col-score", { dataset: { col: c.key, band: b } },
          h("div.score", h("b", v === null ? "—" : v.toFixed(1)), h("i.bar", h("i", { style: { width: `${Math.max(0, Math.min(100, v || 0))}%` } }))));
      }
      if (c.kind === "rate") return h("td.col-rate", { dataset: { col: c.key, band: band(v, c.lower) } }, pct(v));
      const warn = (c.key === "overdue" || c.key === "overdue_now") && v > 0;
      return h("td.col-count", { dataset: { col: c.key }, class: warn ? "warn" : null }, num(v));
    });
    return h("tr", { dataset: { [this.rowKey]: r.key }, class: this.picked === r.key ? "picked" : null, onclick: () => this.onPick?.(r) }, cells);
  }
}

/** {counts: {key: name}, rates: {key: name}} in the current language, from the table's labels */
export function labels(table) {
  const name = (l) => (lang() === "en" ? l.en : l.zh);
  return {
    counts: Object.fromEntries(table.labels.counts.map((l) => [l.key, name(l)])),
    rates: Object.fromEntries(table.labels.rates.map((l) => [l.key, name(l)])),
  };
}

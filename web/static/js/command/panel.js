// The side panel: today's figures, per district and per unit, the overdue tickets and the live
// event stream. Today's counts start from GET /cases?since=<00:00> and then follow the feed.
import { eventIcon } from "../lib/catalogue.js";
import { fill, h, icon } from "../lib/dom.js";
import { fmtDuration, fmtTime, pick, startOfToday, t, tr } from "../lib/i18n.js";
import { CaseStore } from "./store.js";

const STREAM_MAX = 60;

export class Panel {
  constructor({ api, catalogue, store, onOpen }) {
    Object.assign(this, { api, catalogue, store, onOpen });
    this.districtNames = new Map();
    this.reported = new Map(); // case id -> {district, unit} reported today
    this.closed = new Map(); // case id -> {district, unit} closed today
    this.day = startOfToday().getTime();
    this.filter = () => true;
    this.kpis = h("div.kpis");
    this.byArea = h("div.table-wrap");
    this.overdue = h("ol.overdue-list");
    this.stream = h("ol.stream", { "aria-live": "off" });
    this.mode = "district";
    const tabs = h("div.seg", ["district", "unit"].map((m) =>
      h("button", { type: "button", dataset: { mode: m }, class: m === this.mode ? "active" : null, onclick: (e) => { this.mode = m; tabs.querySelectorAll("button").forEach((b) => b.classList.toggle("active", b === e.currentTarget)); this.render(); } }, tr(`cmd.by_${m}`))));
    this.el = h("aside.side-panel",
      this.kpis,
      h("section.panel-box.areas", h("header", icon("activity"), tr("cmd.today"), tabs), this.byArea),
      h("section.panel-box.overdue", h("header", icon("siren"), tr("cmd.overdue"), h("b.count-overdue")), this.overdue),
      h("section.panel-box.events", h("header", icon("bell"), tr("cmd.stream")), this.stream));
  }

  setDistricts(gj) {
    for (const f of gj.features) this.districtNames.set(f.properties.code, f.properties);
    this.render();
  }

  /** Today's reported and closed cases, as of now, from the REST API. */
  async loadToday() {
    this.day = startOfToday().getTime();
    const since = new Date(this.day).toISOString();
    const cases = await this.api.all("/cases", { since }, 20000);
    this.reported.clear();
    this.closed.clear();
    for (const c of cases) {
      const lead = c.units.find((u) => u.role === "lead")?.unit_id || null;
      const row = { district: c.location.district, unit: lead };
      if (Date.parse(c.created_at) >= this.day) this.reported.set(c.id, row);
      if (c.status === "closed" && c.closed_at && Date.parse(c.closed_at) >= this.day) this.closed.set(c.id, row);
    }
    this.render();
  }

  /** One feed event: counts, stream. */
  event(ev, c) {
    if (Date.now() - this.day > 86400000) this.loadToday().catch(() => {});
    if (c) {
      const row = { district: c.district, unit: CaseStore.lead(c) };
      if (ev.type === "case.reported") this.reported.set(c.id, row);
      if (ev.type === "case.closed") this.closed.set(c.id, row);
      if (ev.type === "case.reopened") this.closed.delete(c.id);
    }
    this.streamItem(ev, c);
    this.render();
  }

  streamItem(ev, c) {
    if (c && !this.filter(c)) return;
    const et = this.catalogue.type(ev.case?.event_type);
    const area = this.districtNames.get(ev.case?.district);
    const li = h("li.stream-item", { dataset: { type: ev.type, case: ev.case_id }, onclick: () => ev.case_id && this.onOpen(ev.case_id) },
      h("time", fmtTime(ev.at, { date: false, seconds: true })),
      eventIcon(et, "small"),
      h("div", h("strong", t(`ev.${ev.type}`)), h("span", [ev.case?.case_no, pick(et), area ? pick(area) : "", ev.unit_id ? this.catalogue.unitName(ev.unit_id) : ""].filter(Boolean).join(" · "))));
    li.classList.add(`kind-${ev.type.replace(".", "-")}`);
    this.stream.prepend(li);
    while (this.stream.children.length > STREAM_MAX) this.stream.lastChild.remove();
  }

  render() {
    const open = [...this.store.cases.values()].filter((c) => this.filter(c));
    const lights = new Map(open.map((c) => [c.id, CaseStore.light(c)]));
    const overdue = open.filter((c) => lights.get(c.id).state === "red");
    const count = (st) => open.filter((c) => c.status === st).length;
    const kpi = (key, n, cls) => h(`div.kpi.${cls}`, h("b", n), tr(key));
    fill(this.kpis,
      kpi("cmd.k_reported", this.reported.size, "k-reported"),
      kpi("cmd.k_working", count("dispatched") + count("reported"), "k-working"),
      kpi("cmd.k_verifying", count("verifying"), "k-verifying"),
      kpi("cmd.k_closed", this.closed.size, "k-closed"),
      kpi("cmd.k_overdue", overdue.length, "k-overdue"));
    this.renderTable(open, lights);
    fill(this.el.querySelector(".count-overdue"), overdue.length);
    overdue.sort((a, b) => lights.get(a.id).leftMs - lights.get(b.id).leftMs);
    fill(this.overdue, overdue.length ? overdue.slice(0, 30).map((c) => {
      const et = this.catalogue.type(c.event_type);
      return h("li", { dataset: { case: c.id }, onclick: () => this.onOpen(c.id) },
        eventIcon(et, "small"),
        h("div", h("strong", pick(et)), h("span", `${c.case_no} · ${this.catalogue.unitName(CaseStore.lead(c))}`)),
        h("span.late", t("cmd.late", { d: fmtDuration(lights.get(c.id).leftMs) })));
    }) : h("li.empty", icon("circle-check"), tr("cmd.no_overdue")));
  }

  renderTable(open, lights) {
    const key = this.mode === "district" ? (r) => r.district : (r) => r.unit;
    const rows = new Map();
    const row = (k) => rows.get(k) || rows.set(k, { reported: 0, closed: 0, open: 0, overdue: 0 }).get(k);
    for (const r of this.reported.values()) if (key(r)) row(key(r)).reported++;
    for (const r of this.closed.values()) if (key(r)) row(key(r)).closed++;
    for (const c of open) {
      const k = key({ district: c.district, unit: CaseStore.lead(c) });
      if (!k) continue;
      row(k).open++;
      if (lights.get(c.id).state === "red") row(k).overdue++;
    }
    const name = (k) => (this.mode === "district" ? pick(this.districtNames.get(k)) || k : this.catalogue.unitName(k));
    const sorted = [...rows.entries()].sort((a, b) => b[1].open + b[1].reported - (a[1].open + a[1].reported)).slice(0, 12);
    fill(this.byArea, h("table.figures",
      h("thead", h("tr", h("th", tr(`cmd.col_${this.mode}`)), h("th", tr("cmd.col_reported")), h("th", tr("cmd.col_closed")), h("th", tr("cmd.col_open")), h("th", tr("cmd.col_overdue")))),
      h("tbody", sorted.length ? sorted.map(([k, r]) => h("tr", { dataset: { key: k } }, h("td", name(k)), h("td", r.reported), h("td", r.closed), h("td", r.open), h("td", { class: r.overdue ? "bad" : null }, r.overdue)))
        : h("tr", h("td.empty", { colspan: 5 }, tr("cmd.no_data"))))));
  }
}

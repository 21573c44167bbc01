// Case markers on the command map: fill = case status, ring = deadline light; new reports and
// closures pulse as they happen; a closed case stays a minute in green before it leaves.
import { escapeHtml, L } from "../lib/map.js";
import { pick } from "../lib/i18n.js";
import { CaseStore } from "./store.js";

const LINGER_MS = 60000;
const PULSE_MS = 4000;

export class CaseMarkers {
  constructor(city, catalogue, onClick) {
    Object.assign(this, { city, catalogue, onClick });
    this.markers = new Map();
    this.filter = () => true;
    this.layer = L.featureGroup().addTo(city.map);
  }

  style(c) {
    const light = ["reported", "dispatched", "verifying"].includes(c.status) ? CaseStore.light(c).state : "done";
    return { status: c.status, light };
  }

  /** Set the marker's classes (st-<status>, dl-<light>) on its options and its SVG path. */
  paint(m) {
    const c = m.caseData;
    const { status, light } = this.style(c);
    const className = `case-marker st-${status} dl-${light}${c.urgent ? " urgent" : ""}`;
    m.options.className = className;
    const el = m.getElement();
    if (el) {
      el.setAttribute("class", `leaflet-interactive ${className}`);
      el.dataset.case = c.id;
      el.dataset.status = status;
    }
  }

  upsert(c) {
    let m = this.markers.get(c.id);
    const className = "case-marker";
    if (!m) {
      m = L.circleMarker(this.city.latlng(c.lon, c.lat), { radius: c.urgent ? 8 : 6.5, weight: 3, pane: "cases", className, bubblingMouseEvents: false });
      m.on("click", () => this.onClick(c.id));
      this.markers.set(c.id, m);
    } else {
      m.setLatLng(this.city.latlng(c.lon, c.lat));
      clearTimeout(m.linger);
    }
    m.caseData = c;
    const et = this.catalogue.type(c.event_type);
    m.bindTooltip(`<b>${escapeHtml(pick(et))}</b><br>${escapeHtml(c.case_no)}`, { direction: "top", offset: [0, -6] });
    this.show(m);
    return m;
  }

  show(m) {
    const visible = this.filter(m.caseData);
    if (visible && !this.layer.hasLayer(m)) this.layer.addLayer(m);
    if (!visible && this.layer.hasLayer(m)) this.layer.removeLayer(m);
    this.paint(m);
  }

  /** A case left the open set (closed or rejected): show it so, then take it away. */
  gone(c) {
    const m = this.upsert(c);
    m.linger = setTimeout(() => {
      this.layer.removeLayer(m);
      this.markers.delete(c.id);
    }, LINGER_MS);
  }

  pulse(c, kind) {
    if (!this.filter(c)) return;
    const icon = L.divIcon({ className: `pulse pulse-${kind}`, html: "<i></i><i></i>", iconSize: [60, 60] });
    const p = L.marker(this.city.latlng(c.lon, c.lat), { icon, pane: "pulse", interactive: false }).addTo(this.city.map);
    setTimeout(() => p.remove(), PULSE_MS);
  }

  reset(cases) {
    this.layer.clearLayers();
    this.markers.clear();
    for (const c of cases) this.upsert(c);
  }

  setFilter(fn) {
    this.filter = fn;
    for (const m of this.markers.values()) this.show(m);
  }

  /** Recolour by the clock (deadlines move on without events). */
  refresh() {
    for (const m of this.markers.values()) if (!m.linger) this.paint(m);
  }
}

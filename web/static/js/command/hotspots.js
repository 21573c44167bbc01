// The hotspot layer (热点): cases reported per unit cell or per street in the figures' period,
// in graduated colours over a city map. Each hot cell also gets a soft halo (a blurred pane),
// so a few 100 m cells still read at city zoom. The same layer serves the live map and the
// figures view's map.
import { h } from "../lib/dom.js";
import { pick, t, tr } from "../lib/i18n.js";
import { escapeHtml, L } from "../lib/map.js";

/** low → high, readable on the dark map */
export const RAMP = ["#fde68a", "#fbbf24", "#f97316", "#ef4444", "#be123c"];

/**
 * Lower bounds of the colour classes for counts 1…max: at most five, growing geometrically
 * (1, 2, 3–5, 6–12, 13+ for a max of 30), so a long tail of quiet cells and a few very busy
 * ones both stay apart.
 */
export function classBreaks(max) {
  const k = Math.min(RAMP.length, Math.max(1, max));
  const out = [];
  for (let i = 0; i < k; i++) {
    const b = Math.max(1, Math.ceil(max ** (i / k) - 1e-9));
    if (!out.length || b > out[out.length - 1]) out.push(b);
  }
  return out;
}

export function classOf(n, breaks) {
  let c = 0;
  breaks.forEach((b, i) => {
    if (n >= b) c = i;
  });
  return c;
}

/** The colour of class c of `count` classes, spread over the whole ramp. */
export function classColor(c, count) {
  if (count <= 1) return RAMP[RAMP.length - 2];
  return RAMP[Math.round((c * (RAMP.length - 1)) / (count - 1))];
}

export class HotspotLayer {
  constructor(city, { onCell } = {}) {
    this.city = city;
    this.onCell = onCell;
    const map = city.map;
    for (const [pane, z] of [["heat", 395], ["hot", 405]]) {
      if (!map.getPane(pane)) {
        map.createPane(pane).style.zIndex = z;
      }
    }
    map.getPane("heat").style.pointerEvents = "none";
    this.group = L.layerGroup();
    this.breaks = [];
    this.legendEl = h("div.hot-legend", { hidden: true });
  }

  get visible() {
    return this.city.map.hasLayer(this.group);
  }

  /** Draw {mode: "cells"|"streets", geojson, label}; replaces what was drawn. */
  draw({ mode, geojson, label = "" }) {
    this.group.clearLayers();
    this.bounds = L.latLngBounds([]);
    const feats = geojson.features.filter((f) => f.geometry);
    const max = Math.max(0, ...feats.map((f) => f.properties.cases));
    this.breaks = max ? classBreaks(max) : [];
    this.max = max;
    this.mode = mode;
    const color = (n) => classColor(classOf(n, this.breaks), this.breaks.length);
    const coordsToLatLng = (c) => this.city.latlng(c[0], c[1]);
    if (mode === "streets") {
      const layer = L.geoJSON({ type: "FeatureCollection", features: feats }, {
        coordsToLatLng,
        pane: "hot",
        style: (f) => {
          const n = f.properties.cases;
          return n
            ? { color: color(n), weight: 1.4, opacity: 0.9, fillColor: color(n), fillOpacity: 0.5, className: `hot-street hc-${classOf(n, this.breaks)}` }
            : { color: "#334155", weight: 0.8, opacity: 0.6, fillOpacity: 0, className: "hot-street hc-none" };
        },
        onEachFeature: (f, l) => {
          l.bindTooltip(`<b>${escapeHtml(pick(f.properties))}</b><br>${escapeHtml(t("fig.cases_n", { n: f.properties.cases }))}`, { sticky: true });
          l.on("add", () => this.tag(l, { street: f.properties.code, cases: f.properties.cases }));
          if (f.properties.cases) this.bounds.extend(l.getBounds());
        },
      });
      this.group.addLayer(layer);
    } else {
      for (const f of feats) {
        const n = f.properties.cases;
        const c = classOf(n, this.breaks);
        const cell = L.geoJSON(f, {
          coordsToLatLng,
          pane: "hot",
          style: { color: color(n), weight: 1.6, opacity: 1, fillColor: color(n), fillOpacity: 0.85, className: `hot-cell hc-${c}` },
        });
        cell.bindTooltip(`<b>${escapeHtml(t("fig.cell", { code: f.properties.code }))}</b><br>${escapeHtml(t("fig.cases_n", { n }))}`, { sticky: true });
        cell.eachLayer((l) => l.on("add", () => this.tag(l, { code: f.properties.code, cases: n })));
        if (this.onCell) cell.on("click", () => this.onCell(f.properties.code));
        this.bounds.extend(cell.getBounds());
        const center = cell.getBounds().getCenter();
        const halo = L.circleMarker(center, { pane: "heat", radius: 9 + 5 * c, stroke: false, fillColor: color(n), fillOpacity: 0.5, interactive: false, className: "hot-halo" });
        this.group.addLayer(halo).addLayer(cell);
      }
    }
    this.renderLegend(label, feats.filter((f) => f.properties.cases > 0).length);
  }

  tag(layer, data) {
    const el = layer.getElement?.();
    if (el) Object.assign(el.dataset, data);
  }

  renderLegend(label, n) {
    const b = this.breaks;
    const items = b.map((lo, i) => {
      const hi = i + 1 < b.length ? b[i + 1] - 1 : this.max;
      const text = hi === lo ? `${lo}` : `${lo}–${hi}`;
      return h("span", h("i", { style: { background: classColor(i, b.length) } }), text);
    });
    const what = this.mode === "streets" ? "fig.hot_streets_n" : "fig.hot_n";
    this.legendEl.replaceChildren(
      h("strong", tr("fig.hot"), label ? h("small", label) : null),
      items.length ? h("div.ramp", items) : h("span.none", tr("fig.hot_none")),
      items.length ? h("small.total", t(what, { n })) : null
    );
  }

  /** Move the map's view onto what is drawn (nothing drawn: stay): at once the first time,
   * flying afterwards; the container says data-moving while it flies. */
  fit(maxZoom = 14) {
    if (!this.bounds?.isValid()) return;
    const map = this.city.map;
    const opts = { padding: [40, 40], maxZoom };
    if (!this.fitted) {
      this.fitted = true;
      map.fitBounds(this.bounds, { ...opts, animate: false });
      return;
    }
    const el = map.getContainer();
    el.dataset.moving = "1";
    map.once("moveend", () => delete el.dataset.moving);
    map.flyToBounds(this.bounds, { ...opts, duration: 0.8 });
  }

  show(on = true) {
    if (on && !this.visible) this.group.addTo(this.city.map);
    if (!on && this.visible) this.group.remove();
    this.legendEl.hidden = !on;
  }

  /** Fly to a cell (a repeat place) and flash it. */
  focusCell(code) {
    this.group.eachLayer((layer) => {
      if (!layer.eachLayer) return;
      layer.eachLayer((l) => {
        if (l.getElement?.()?.dataset.code !== code) return;
        this.city.map.flyToBounds(l.getBounds(), { maxZoom: 17, duration: 0.6 });
        const el = l.getElement();
        el.classList.remove("flash");
        requestAnimationFrame(() => el.classList.add("flash"));
      });
    });
  }
}

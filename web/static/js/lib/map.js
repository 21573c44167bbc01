// The city map: Leaflet over the city's own vector data (districts, streets, communities and,
// zoomed in, unit cells) with an optional tile layer from settings. Everything is drawn in the
// tiles' CRS: with GCJ-02 tiles every WGS-84 point and outline is shifted to line up.
import * as L from "../../vendor/leaflet/leaflet-src.esm.js";
import { debounce } from "./dom.js";
import { gcj02ToWgs84, wgs84ToGcj02 } from "./gcj02.js";
import { pick } from "./i18n.js";

export { L };

const CELL_ZOOM = 16; // unit cells (~100 m) are drawn from this zoom on
const STYLE = {
  district: { color: "#1d4ed8", weight: 2.2, opacity: 0.9, fillColor: "#dbeafe", fillOpacity: 0.18 },
  districtDark: { color: "#3b82f6", weight: 2, opacity: 0.95, fillColor: "#1e3a8a", fillOpacity: 0.22 },
  street: { color: "#3b82f6", weight: 1.2, opacity: 0.7, dashArray: "4 3", fill: false },
  community: { color: "#93c5fd", weight: 0.8, opacity: 0.7, fill: false },
  cell: { color: "#94a3b8", weight: 0.5, opacity: 0.8, fill: false },
};

/**
 * createCityMap(el, {api, config, levels, cells, dark}) -> CityMap
 * levels: which area outlines to load ("district", "street", "community").
 */
export async function createCityMap(el, { api, config, levels = ["district", "street"], cells = true, dark = false, zoomControl = true } = {}) {
  const tiles = config.tiles;
  const shift = tiles?.crs === "gcj02";
  const toMap = (lon, lat) => (shift ? wgs84ToGcj02(lon, lat) : [lon, lat]);
  const latlng = (lon, lat) => {
    const [x, y] = toMap(lon, lat);
    return L.latLng(y, x);
  };
  const [minx, miny, maxx, maxy] = config.city.bounds;
  const map = L.map(el, {
    zoomControl,
    attributionControl: Boolean(tiles?.attribution),
    preferCanvas: false,
    maxZoom: tiles?.max_zoom || 19,
    minZoom: 9,
    zoomSnap: 0.25,
  });
  map.fitBounds(L.latLngBounds(latlng(minx, miny), latlng(maxx, maxy)), { padding: [10, 10] });
  el.classList.add(dark ? "map-dark" : "map-light");
  if (tiles?.url) {
    L.tileLayer(tiles.url, { attribution: tiles.attribution, maxZoom: tiles.max_zoom, crossOrigin: false }).addTo(map);
  }
  const coordsToLatLng = (c) => latlng(c[0], c[1]);
  const panes = ["areas", "cells", "labels", "cases", "pulse"];
  panes.forEach((p, i) => (map.createPane(p).style.zIndex = 390 + i * 10));
  map.getPane("areas").style.pointerEvents = "none";
  map.getPane("cells").style.pointerEvents = "none";
  map.getPane("labels").style.pointerEvents = "none";

  const layers = {};
  const areas = {};
  const labels = L.layerGroup().addTo(map);
  for (const level of levels) {
    areas[level] = api.get("/grid/areas", { level });
    areas[level].then((gj) => {
      const style = dark && level === "district" ? STYLE.districtDark : STYLE[level];
      layers[level] = L.geoJSON(gj, { style, coordsToLatLng, pane: "areas", interactive: false });
      if (level === "district") {
        layers[level].addTo(map);
        for (const f of gj.features) {
          // a district reaches far beyond the gridded core: label the part inside the grid
          const b = L.geoJSON(f, { coordsToLatLng }).getBounds();
          const core = L.latLngBounds(latlng(minx, miny), latlng(maxx, maxy));
          if (!b.intersects(core)) continue;
          const center = L.latLngBounds(
            [Math.max(b.getSouth(), core.getSouth()), Math.max(b.getWest(), core.getWest())],
            [Math.min(b.getNorth(), core.getNorth()), Math.min(b.getEast(), core.getEast())]).getCenter();
          L.marker(center, { icon: L.divIcon({ className: "area-label", html: `<span>${escapeHtml(pick(f.properties))}</span>`, iconSize: null }), interactive: false, pane: "labels" }).addTo(labels);
        }
      }
      showLevels();
    }).catch(() => {});
  }
  function showLevels() {
    const z = map.getZoom();
    const want = { district: true, street: z >= 12, community: z >= 14 };
    for (const [level, layer] of Object.entries(layers)) {
      if (want[level] && !map.hasLayer(layer)) layer.addTo(map);
      if (!want[level] && map.hasLayer(layer)) map.removeLayer(layer);
    }
    el.classList.toggle("zoomed-in", z >= 13);
  }

  let cellLayer = null;
  let cellAbort = null;
  const loadCells = debounce(async () => {
    if (!cells) return;
    cellAbort?.abort();
    if (map.getZoom() < CELL_ZOOM) {
      cellLayer?.remove();
      cellLayer = null;
      return;
    }
    const b = map.getBounds();
    const [x1, y1] = fromMapXY(b.getWest(), b.getSouth());
    const [x2, y2] = fromMapXY(b.getEast(), b.getNorth());
    cellAbort = new AbortController();
    try {
      const gj = await api.request("GET", `/grid/cells?bbox=${[x1, y1, x2, y2].map((v) => v.toFixed(5)).join(",")}`, { signal: cellAbort.signal });
      cellLayer?.remove();
      cellLayer = L.geoJSON(gj, { style: STYLE.cell, coordsToLatLng, pane: "cells", interactive: false }).addTo(map);
    } catch {
      /* a box too large or a lost network: keep what is drawn */
    }
  }, 250);
  const fromMapXY = (x, y) => (shift ? gcj02ToWgs84(x, y) : [x, y]);

  map.on("zoomend", showLevels);
  map.on("moveend", loadCells);
  return {
    map,
    latlng,
    /** GeoJSON of each loaded level, as promises */
    areas,
    /** A map position back to what the API takes: {lon, lat, crs} in the tiles' CRS. */
    toApi(ll) {
      return { lon: ll.lng, lat: ll.lat, crs: shift ? "gcj02" : "wgs84" };
    },
    /** A map position back to WGS-84 [lon, lat] */
    toWgs84(ll) {
      return fromMapXY(ll.lng, ll.lat);
    },
    flyTo(lon, lat, zoom = 17) {
      map.flyTo(latlng(lon, lat), zoom, { duration: 0.6 });
    },
  };
}

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

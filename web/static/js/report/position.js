// Where the incident is: the phone's GPS fix (WGS-84, with its accuracy), shown on a small map
// where the worker can drag the pin; the place names come from /grid/locate when online.
import { debounce, fill, h, icon } from "../lib/dom.js";
import { pick, t } from "../lib/i18n.js";
import { createCityMap, L } from "../lib/map.js";

export function positionCard({ api, config }) {
  const mapEl = h("div.mini-map", { "aria-label": t("pos.map") });
  const accuracy = h("span.accuracy");
  const place = h("div.place", t("pos.waiting"));
  const relocate = h("button.ghost.small", { type: "button", onclick: () => recenter() }, icon("locate-fixed"), h("span", t("pos.relocate")));
  const card = h("section.card.position", h("div.card-title", icon("map-pin"), h("span", t("pos.title")), accuracy, relocate), mapEl, place);

  let city = null;
  let marker = null;
  let circle = null;
  let fix = null; // latest GPS fix {lon, lat, accuracy, at}
  let moved = null; // {lon, lat, crs} when the worker dragged the pin

  const setAccuracy = () => {
    if (moved) fill(accuracy, h("span.tag.moved", t("pos.moved")));
    else if (fix) fill(accuracy, h("span.tag", { "data-good": fix.accuracy <= 30 ? "yes" : "no" }, `GPS ±${Math.round(fix.accuracy)} m`));
    else fill(accuracy, h("span.tag.none", t("pos.nogps")));
  };

  const describe = debounce(async () => {
    const p = current();
    if (!p) return;
    try {
      const loc = await api.get("/grid/locate", { lon: p.lon.toFixed(7), lat: p.lat.toFixed(7), crs: p.crs });
      fill(place,
        h("strong", [pick(loc.names.district), pick(loc.names.street)].join(" · ")),
        h("span", pick(loc.names.community)),
        h("span.cell", t("pos.cell", { cell: loc.cell })));
      place.dataset.cell = loc.cell;
      card.classList.remove("outside");
    } catch (err) {
      place.dataset.cell = "";
      if (err.code === "outside_served_area") {
        card.classList.add("outside");
        fill(place, h("strong.warn", t("pos.outside")));
      } else if (err.status === 0) {
        fill(place, h("span", t("pos.offline_place")));
      }
    }
  }, 400);

  const draw = () => {
    if (!city) return;
    const p = moved ? null : fix;
    const ll = moved ? L.latLng(moved.lat, moved.lon) : p ? city.latlng(p.lon, p.lat) : null;
    if (!ll) return;
    if (!marker) {
      marker = L.marker(ll, { draggable: true, autoPan: true, icon: L.divIcon({ className: "pin", html: "<i></i>", iconSize: [28, 36], iconAnchor: [14, 34] }) }).addTo(city.map);
      marker.on("dragend", () => {
        moved = city.toApi(marker.getLatLng());
        circle?.remove();
        circle = null;
        setAccuracy();
        describe();
      });
      city.map.setView(ll, 17);
    } else marker.setLatLng(ll);
    if (!moved && fix) {
      if (!circle) circle = L.circle(ll, { radius: fix.accuracy, color: "#2563eb", weight: 1, fillOpacity: 0.12, interactive: false }).addTo(city.map);
      else circle.setLatLng(ll).setRadius(fix.accuracy);
    }
  };

  function recenter() {
    moved = null;
    setAccuracy();
    draw();
    if (fix && city) city.map.setView(city.latlng(fix.lon, fix.lat), Math.max(city.map.getZoom(), 17));
    describe();
  }

  /** The position to report: the dragged pin, else the GPS fix (WGS-84). */
  function current() {
    if (moved) return moved;
    if (fix) return { lon: fix.lon, lat: fix.lat, crs: "wgs84", accuracy_m: fix.accuracy };
    return null;
  }

  let watch = null;
  card.start = async () => {
    setAccuracy();
    try {
      city = await createCityMap(mapEl, { api, config, levels: ["district", "street", "community"], zoomControl: false });
    } catch {
      mapEl.classList.add("unavailable");
    }
    if (!("geolocation" in navigator)) return;
    watch = navigator.geolocation.watchPosition(
      (pos) => {
        const first = !fix;
        fix = { lon: pos.coords.longitude, lat: pos.coords.latitude, accuracy: pos.coords.accuracy, at: new Date(pos.timestamp).toISOString() };
        setAccuracy();
        draw();
        if (first && !moved) describe();
      },
      () => {
        if (!fix) fill(place, h("strong.warn", t("pos.denied")));
      },
      { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 }
    );
  };
  card.current = current;
  card.fix = () => fix && { ...fix };
  card.moved = () => Boolean(moved);
  card.reset = () => {
    moved = null;
    recenter();
  };
  card.invalidate = () => city?.map.invalidateSize();
  card.stop = () => watch !== null && navigator.geolocation.clearWatch(watch);
  return card;
}

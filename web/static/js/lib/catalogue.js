// The event catalogue and units (fixed while the server runs: kept in localStorage so the
// worker's form works offline), the icon of each event type and the status vocabulary.
import { h, icon } from "./dom.js";
import { pick, t } from "./i18n.js";

/** catalogue icon name (event_types.csv) -> Lucide icon file */
const EVENT_ICONS = {
  ad: "megaphone", bike: "bike", building: "building", construction: "construction",
  green: "trees", hazard: "triangle-alert", noise: "volume-2", other: "circle-help",
  parking: "square-parking", road: "construction", smoke: "cloud-fog", stall: "store",
  trash: "trash", truck: "truck", vehicle: "car", water: "droplets",
};

/** One hue per event class, so a type reads the same on every page. */
const CLASS_HUES = { "06": "#0f766e", "07": "#b45309", "08": "#7c3aed", "09": "#be123c", "10": "#475569" };

export function eventIcon(et, cls = "") {
  const el = h("span.event-icon", { class: cls || null }, icon(EVENT_ICONS[et?.icon] || "circle-help"));
  el.style.setProperty("--hue", CLASS_HUES[et?.class_code] || "#475569");
  return el;
}

export class Catalogue {
  constructor(groups, units) {
    this.groups = groups;
    this.types = new Map();
    for (const g of groups) for (const et of g.types) this.types.set(et.code, { ...et, class_code: g.class_code, class_zh: g.class_zh, class_en: g.class_en });
    this.units = new Map(units.map((u) => [u.id, u]));
  }

  type(code) {
    return this.types.get(code) || { code, name_zh: code, name_en: code, icon: "other" };
  }

  unitName(id) {
    return pick(this.units.get(id)) || id;
  }

  /** Focus problems (重点问题) across classes, then everything, for the picker. */
  focus() {
    return [...this.types.values()].filter((e) => e.focus);
  }

  /** Fetched once a session, from localStorage when offline. */
  static async load(api) {
    const KEY = "gd.catalogue";
    try {
      const [groups, units] = await Promise.all([api.get("/event-types"), api.get("/units")]);
      localStorage.setItem(KEY, JSON.stringify({ groups, units }));
      return new Catalogue(groups, units);
    } catch (err) {
      const kept = JSON.parse(localStorage.getItem(KEY) || "null");
      if (!kept) throw err;
      return new Catalogue(kept.groups, kept.units);
    }
  }
}

export const CASE_STATUSES = ["reported", "dispatched", "verifying", "closed", "rejected"];
export const TICKET_STATUSES = ["dispatched", "accepted", "in_progress", "resolved", "returned", "cancelled"];

export function caseBadge(status) {
  return h(`span.badge.case-${status}`, t(`case.${status}`));
}

export function ticketBadge(status) {
  return h(`span.badge.ticket-${status}`, t(`ticket.${status}`));
}

/** "青秀区 · 示例街道01 · 第01社区" from a CaseOut location or a feed case summary */
export function placeOf(loc) {
  if (!loc) return "";
  const parts = [loc.district_name, loc.street_name, loc.community_name].filter(Boolean);
  return parts.length ? parts.join(" · ") : [loc.district, loc.street, loc.community].filter(Boolean).join(" · ");
}

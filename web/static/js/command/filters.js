// Filters over the map and the lists: event class, unit, district, status.
import { CASE_STATUSES } from "../lib/catalogue.js";
import { h, icon } from "../lib/dom.js";
import { pick, t } from "../lib/i18n.js";
import { CaseStore } from "./store.js";

export function filterBar(catalogue, onChange) {
  const sel = (name, options) => {
    const s = h("select", { name, "aria-label": t(`cmd.f_${name}`), onchange: () => onChange(predicate()) },
      h("option", { value: "" }, t(`cmd.f_${name}`)), options.map(([v, label]) => h("option", { value: v }, label)));
    return s;
  };
  const cls = sel("class", catalogue.groups.map((g) => [g.class_code, `${g.class_code} ${pick(g, "class")}`]));
  const unit = sel("unit", [...catalogue.units.values()].map((u) => [u.id, pick(u)]));
  const district = sel("district", []);
  const status = sel("status", CASE_STATUSES.slice(0, 3).map((s) => [s, t(`case.${s}`)]));
  const bar = h("div.filter-bar", icon("filter"), cls, unit, district, status);

  function predicate() {
    const v = { cls: cls.value, unit: unit.value, district: district.value, status: status.value };
    return (c) =>
      (!v.cls || catalogue.type(c.event_type).class_code === v.cls) &&
      (!v.district || c.district === v.district) &&
      (!v.status || c.status === v.status) &&
      (!v.unit || [...c.tickets.values()].some((tk) => tk.unit_id === v.unit && CaseStore.live(c).includes(tk)));
  }
  bar.setDistricts = (gj) => {
    for (const f of gj.features) district.append(h("option", { value: f.properties.code }, pick(f.properties)));
  };
  bar.predicate = predicate;
  return bar;
}

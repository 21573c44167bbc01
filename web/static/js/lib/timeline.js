// A case's timeline (GET /cases/{id} -> timeline) as a vertical list.
import { h } from "./dom.js";
import { fmtTime, t } from "./i18n.js";

export function timelineList(entries, catalogue) {
  return h("ol.timeline", entries.map((e) => {
    const who = e.actor_hidden ? t(`roleName.${e.actor_role}`) : e.actor || t("actor.system");
    const unit = e.unit_id ? catalogue.unitName(e.unit_id) : "";
    const reason = e.data?.note || e.data?.reason || "";
    const said = e.type === "ticket.extended" ? `${t("tl.until", { at: fmtTime(e.data.resolve_due) })} · ${reason}` : reason;
    return h("li", { dataset: { type: e.type } },
      h("time", fmtTime(e.at)),
      h("div", h("strong", t(`ev.${e.type}`)), unit ? h("span.unit", unit) : null, h("small", who), said ? h("q", said) : null));
  }));
}

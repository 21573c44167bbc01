// A case opened from the map or a list: tickets with countdowns, photos, timeline; a dispatcher
// can dispatch (立案派遣, choosing the lead), reassign (改派), reject (不予立案/作废), reopen (重办)
// or extend a unit's deadline (延期, before it has passed).
import { caseBadge, eventIcon, placeOf, ticketBadge } from "../lib/catalogue.js";
import { countdownChip } from "../lib/deadline.js";
import { fill, h, icon, toast } from "../lib/dom.js";
import { fmtTime, pick, t } from "../lib/i18n.js";
import { photoStrip } from "../lib/photos.js";
import { timelineList } from "../lib/timeline.js";

const ACTS = {
  reported: ["dispatch", "reject"],
  dispatched: ["reassign", "extend", "reject"],
  verifying: ["reassign", "reopen"],
  closed: ["reopen"],
};

/** tickets a dispatcher may still extend (dispatch/tickets/states.py EXTEND_FROM) */
const EXTENDABLE = new Set(["dispatched", "accepted", "in_progress"]);

export function caseDrawer({ api, catalogue, user, onClose, onFocus }) {
  const el = h("section.case-drawer", { hidden: true, "aria-label": t("cmd.case") });
  let current = null;

  async function open(id) {
    current = id;
    el.hidden = false;
    fill(el, h("div.loading", t("loading")));
    const c = await api.get(`/cases/${id}`);
    if (current !== id) return;
    render(c);
    onFocus?.(c);
  }

  function close() {
    current = null;
    el.hidden = true;
    onClose?.();
  }

  function render(c) {
    const et = catalogue.type(c.event_type.code);
    const kinds = ["report", "before", "after", "verify"];
    const photos = kinds.map((k) => [k, c.photos.filter((p) => p.kind === k).map((p) => p.id)]).filter(([, ids]) => ids.length);
    fill(el,
      h("header.drawer-head", eventIcon(et), h("div.title", h("strong", pick(et)), h("small", `${c.case_no} · ${fmtTime(c.created_at)}`)), caseBadge(c.status),
        h("button.ghost.icon-only", { type: "button", onclick: close, "aria-label": t("close") }, icon("x"))),
      h("div.drawer-body",
        h("p.place", icon("map-pin"), placeOf(c.location), h("small", ` · ${t("pos.cell", { cell: c.location.cell })}`)),
        c.description ? h("p.note", c.description) : null,
        c.reject_reason ? h("p.note.warn", t("cmd.rejected_because", { r: c.reject_reason })) : null,
        h("h3", t("cmd.units")),
        h("ul.units", c.units.length ? c.units.map((u) => h("li", { dataset: { unit: u.unit_id } },
          h("div", h("strong", pick(u, "unit_name")), h("small", t(`role.${u.role}`))), ticketBadge(u.status), countdownChip(u, { start: c.dispatched_at }))) : h("li.empty", t("cmd.no_units"))),
        ...photos.map(([k, ids]) => photoStrip(api, ids, { caption: t(`photo.kind.${k}`) })),
        h("h3", t("team.timeline")),
        timelineList(c.timeline, catalogue),
        actions(c)));
  }

  function actions(c) {
    if (!["dispatcher", "admin"].includes(user.role)) return null;
    const now = Date.now();
    const extendable = c.units.filter((u) => EXTENDABLE.has(u.status) && Date.parse(u.resolve_due) > now);
    const acts = (ACTS[c.status] || []).filter((a) => a !== "extend" || extendable.length);
    if (!acts.length) return null;
    const box = h("div.drawer-actions");
    const form = h("div.act-form");
    for (const a of acts) box.append(h(`button.${a === "reject" ? "danger" : "secondary"}`, { type: "button", dataset: { act: a }, onclick: () => showForm(a) }, t(`cmd.act.${a}`)));
    function unitSelect() {
      return h("select", { name: "unit" }, [...catalogue.units.values()].map((u) => h("option", { value: u.id }, `${pick(u)} (${u.id})`)));
    }
    function showForm(a) {
      const err = h("p.form-error", { role: "alert" });
      const reason = h("textarea", { rows: 2, maxlength: 2000, placeholder: t("cmd.reason") });
      const unit = unitSelect();
      const role = h("select", { name: "role" }, h("option", { value: "lead" }, t("role.lead")), h("option", { value: "support" }, t("role.support")));
      const auto = h("option", { value: "" }, t("cmd.auto_route"));
      const lead = unitSelect();
      lead.prepend(auto);
      lead.value = "";
      const limitUnit = catalogue.type(c.event_type.code).limits?.unit || "work_hours";
      const ticket = h("select", { name: "ticket" }, extendable.map((u) => h("option", { value: u.ticket_id }, `${t(`role.${u.role}`)} · ${pick(u, "unit_name")}`)));
      const extra = h("input", { type: "number", name: "extra", min: 1, max: 1000, step: 1, value: limitUnit === "work_days" ? 1 : limitUnit === "minutes" ? 30 : 4 });
      const fields = {
        dispatch: [h("label", t("cmd.lead"), lead)],
        reassign: [h("label", t("cmd.to_unit"), unit), h("label", t("cmd.as_role"), role)],
        extend: [h("label", t("cmd.ext_ticket"), ticket), h("label", t(`cmd.ext_by.${limitUnit}`), extra), reason],
        reject: [reason],
        reopen: [reason],
      }[a];
      const go = h("button.primary", { type: "button", onclick: async () => {
        const body = { version: c.version };
        if (a === "reject" || a === "reopen" || a === "extend") body.reason = reason.value.trim();
        if (a === "reassign") Object.assign(body, { unit_id: unit.value, role: role.value });
        if (a === "dispatch" && lead.value) body.lead_unit = lead.value;
        try {
          if (a === "extend") {
            const u = extendable.find((x) => String(x.ticket_id) === ticket.value);
            await api.post(`/tickets/${u.ticket_id}/extend`, { extra: Number(extra.value), reason: body.reason, version: u.version });
          } else {
            await api.post(`/cases/${c.id}/${a}`, body);
          }
          toast(t("cmd.done"), "ok");
          open(c.id);
        } catch (e) {
          err.textContent = e.message;
        }
      } }, t(`cmd.act.${a}`));
      fill(form, ...fields, err, go);
    }
    return h("section.dispatcher", h("h3", t("cmd.dispatcher")), box, form);
  }

  el.open = open;
  el.current = () => current;
  el.close = close;
  return el;
}

// One ticket: place on a map, photos, description, partners, timeline and the team's actions
// (签收 accept, 到场 start, 处置完毕 resolve with after-photos, 回退 return with a reason).
import { caseBadge, eventIcon, placeOf, ticketBadge } from "../lib/catalogue.js";
import { countdownChip } from "../lib/deadline.js";
import { fill, h, icon, sheet, toast } from "../lib/dom.js";
import { fmtTime, pick, t } from "../lib/i18n.js";
import { createCityMap, L } from "../lib/map.js";
import { photoPicker, photoStrip } from "../lib/photos.js";
import { timelineList } from "../lib/timeline.js";

export function ticketDetail({ api, config, catalogue, onBack, onChanged }) {
  const view = h("div.ticket-detail");
  let shown = null;
  let latest = null; // the ticket as last shown: a sheet left open submits its version, not a stale one
  const versionOf = (tk) => (latest && latest.ticket_id === tk.ticket_id ? latest : tk).version;

  async function open(id) {
    shown = id;
    fill(view, h("div.loading", t("loading")));
    const tk = await api.get(`/tickets/${id}`);
    const c = await api.get(`/cases/${tk.case_id}`);
    if (shown !== id) return;
    render(tk, c);
  }

  function render(tk, c) {
    latest = tk;
    const et = catalogue.type(c.event_type.code);
    const mapEl = h("div.mini-map.detail-map");
    const loc = c.location;
    const navHref = `geo:${loc.lat.toFixed(6)},${loc.lon.toFixed(6)}?q=${loc.lat.toFixed(6)},${loc.lon.toFixed(6)}`;
    const partners = c.units.filter((u) => u.ticket_id !== tk.ticket_id);
    const before = c.photos.filter((p) => p.kind === "report" || p.kind === "before").map((p) => p.id);
    const after = c.photos.filter((p) => p.kind === "after").map((p) => p.id);
    fill(view,
      h("div.detail-head",
        h("button.ghost.back", { type: "button", onclick: onBack }, icon("chevron-right", "flip"), h("span", t("back"))),
        ticketBadge(tk.status)),
      h("section.card.headline",
        h("div.row1", eventIcon(et), h("div.title", h("strong", pick(et)), h("small", `${c.case_no} · ${t(`role.${tk.role}`)}`))),
        h("div.row3", countdownChip(tk, { start: tk.rework_count ? null : tk.dispatched_at }), caseBadge(c.status), et.urgent ? h("span.tag.urgent", t("form.urgent")) : null),
        c.description ? h("p.note", c.description) : null),
      h("section.card",
        h("div.card-title", icon("map-pin"), h("span", placeOf(loc))),
        mapEl,
        h("div.place-actions",
          h("a.button.secondary", { href: navHref, "data-nav": "geo" }, icon("navigation"), h("span", t("team.navigate"))),
          h("span.muted", `${loc.lon.toFixed(5)}, ${loc.lat.toFixed(5)} · ${t("pos.cell", { cell: loc.cell })}`))),
      before.length ? h("section.card", h("div.card-title", icon("image"), h("span", t("team.photos"))), photoStrip(api, before)) : null,
      after.length ? h("section.card", h("div.card-title", icon("shield-check"), h("span", t("check.after"))), photoStrip(api, after)) : null,
      partners.length ? h("section.card", h("div.card-title", icon("users"), h("span", t("team.partners"))),
        h("ul.partners", partners.map((u) => h("li", h("span", pick(u, "unit_name")), h("small", t(`role.${u.role}`)), ticketBadge(u.status))))) : null,
      h("section.card", h("div.card-title", icon("clock"), h("span", t("team.timeline"))), timelineList(c.timeline, catalogue)),
      actions(tk));
    createCityMap(mapEl, { api, config, levels: ["district", "street"], zoomControl: false }).then((city) => {
      const ll = city.latlng(loc.lon, loc.lat);
      L.marker(ll, { icon: L.divIcon({ className: "pin", html: "<i></i>", iconSize: [28, 36], iconAnchor: [14, 34] }) }).addTo(city.map);
      city.map.setView(ll, 17);
    });
  }

  function actions(tk) {
    // while one move is under way the others wait: a second tap would carry the version the
    // first one is about to change (and be refused as a conflict)
    const busy = (on) => bar && bar.querySelectorAll("button").forEach((b) => (b.disabled = on));
    const act = (name, body = {}) => async () => {
      busy(true);
      try {
        await api.post(`/tickets/${tk.ticket_id}/${name}`, { version: versionOf(tk), ...body });
        toast(t(`team.done.${name}`), "ok");
        onChanged();
        open(tk.ticket_id);
      } catch (err) {
        toast(err.code === "conflict" || err.code === "invalid_transition" ? t("err.changed", { who: err.details?.changed_by || "" }) : err.message, "error", 6000);
        open(tk.ticket_id);
      }
    };
    const buttons = [];
    if (tk.status === "dispatched") buttons.push(h("button.primary.big", { type: "button", dataset: { act: "accept" }, onclick: act("accept") }, icon("check"), t("team.accept")));
    if (tk.status === "accepted") buttons.push(h("button.secondary.big", { type: "button", dataset: { act: "start" }, onclick: act("start") }, icon("play"), t("team.start")));
    if (tk.status === "accepted" || tk.status === "in_progress") buttons.push(h("button.success.big", { type: "button", dataset: { act: "resolve" }, onclick: () => resolve(tk) }, icon("shield-check"), t("team.resolve")));
    if (tk.status === "dispatched" || tk.status === "accepted") buttons.push(h("button.ghost.danger-text", { type: "button", dataset: { act: "return" }, onclick: () => giveBack(tk) }, icon("undo-2"), t("team.return")));
    if (tk.status === "resolved") buttons.push(h("p.muted", icon("clock"), t("team.waiting_check", { at: fmtTime(tk.resolved_at) })));
    const bar = buttons.length ? h("div.action-bar", buttons) : null;
    return bar;
  }

  async function resolve(tk) {
    const note = h("textarea", { rows: 3, maxlength: 2000, placeholder: t("team.resolve_note") });
    const photos = photoPicker({ max: config.photo.max_count, label: "team.after_photo", opts: { maxSide: config.photo.max_side, quality: config.photo.quality } });
    const error = h("p.form-error", { role: "alert" });
    await sheet(t("team.resolve"), [h("label.field", t("team.note"), note), h("label.field", t("team.after_photos")), photos, error], {
      actions: [{ label: t("team.resolve_submit"), kind: "success", run: async (close) => {
        if (!note.value.trim()) return (error.textContent = t("team.need_note"));
        if (!photos.blobs().length) return (error.textContent = t("team.need_photo"));
        error.textContent = t("team.uploading");
        try {
          const photo_ids = [];
          for (const b of photos.blobs()) photo_ids.push(await api.uploadPhoto(b));
          await api.post(`/tickets/${tk.ticket_id}/resolve`, { version: versionOf(tk), note: note.value.trim(), photo_ids });
          close(true);
          toast(t("team.done.resolve"), "ok");
          onChanged();
          open(tk.ticket_id);
        } catch (err) {
          error.textContent = err.message;
        }
      } }],
    });
  }

  async function giveBack(tk) {
    const reason = h("textarea", { rows: 3, maxlength: 2000, placeholder: t("team.return_reason") });
    const error = h("p.form-error", { role: "alert" });
    await sheet(t("team.return"), [reason, error], {
      actions: [{ label: t("team.return_submit"), kind: "danger", run: async (close) => {
        if (!reason.value.trim()) return (error.textContent = t("team.need_reason"));
        try {
          await api.post(`/tickets/${tk.ticket_id}/return`, { version: versionOf(tk), reason: reason.value.trim() });
          close(true);
          toast(t("team.done.return"), "ok");
          onChanged();
          onBack();
        } catch (err) {
          error.textContent = err.message;
        }
      } }],
    });
  }

  view.open = open;
  view.current = () => shown;
  return view;
}

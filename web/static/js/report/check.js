// 核查: cases waiting for this worker's on-site check, with the team's note and after-photos;
// pass (结案) or fail (返工, with a note) on the spot, optionally with a photo.
import { eventIcon, placeOf } from "../lib/catalogue.js";
import { coalesce, fill, h, icon, sheet, toast } from "../lib/dom.js";
import { fmtTime, pick, t } from "../lib/i18n.js";
import { photoPicker, photoStrip } from "../lib/photos.js";

export function checkList({ api, catalogue, config }) {
  const list = h("ul.check-list");
  const view = h("div.checks", list);

  async function card(c) {
    const detail = await api.get(`/cases/${c.id}`);
    const resolved = detail.timeline.filter((e) => e.type === "ticket.resolved");
    const before = detail.photos.filter((p) => p.kind === "report" || p.kind === "before").map((p) => p.id);
    const after = detail.photos.filter((p) => p.kind === "after").map((p) => p.id);
    const et = catalogue.type(c.event_type.code);
    return h("li.check-item.card", { dataset: { case: c.id } },
      h("div.row1", eventIcon(et, "small"), h("strong", pick(et)), h("span.case-no", c.case_no)),
      h("div.place", icon("map-pin"), placeOf(c.location)),
      c.description ? h("p.note", c.description) : null,
      ...resolved.map((e) => h("p.resolution", icon("shield-check"), h("span", `${catalogue.unitName(e.unit_id)} · ${fmtTime(e.at)}`), e.data?.note ? h("q", e.data.note) : null)),
      before.length ? photoStrip(api, before, { caption: t("check.before") }) : null,
      after.length ? photoStrip(api, after, { caption: t("check.after") }) : null,
      h("div.actions",
        h("button.danger", { type: "button", dataset: { verdict: "fail" }, onclick: () => verify(c, false) }, icon("undo-2"), t("check.fail")),
        h("button.success", { type: "button", dataset: { verdict: "pass" }, onclick: () => verify(c, true) }, icon("check"), t("check.pass"))));
  }

  async function verify(c, passed) {
    const note = h("textarea", { rows: 3, maxlength: 2000, placeholder: t(passed ? "check.note_optional" : "check.note_required") });
    const photos = photoPicker({ max: 3, opts: { maxSide: config.photo.max_side, quality: config.photo.quality } });
    const error = h("p.form-error", { role: "alert" });
    await sheet(t(passed ? "check.pass_title" : "check.fail_title"), [note, photos, error], {
      actions: [{
        label: t(passed ? "check.pass" : "check.fail"),
        kind: passed ? "success" : "danger",
        run: async (close) => {
          if (!passed && !note.value.trim()) return (error.textContent = t("check.note_required"));
          try {
            const photo_ids = [];
            for (const b of photos.blobs()) photo_ids.push(await api.uploadPhoto(b));
            await api.post(`/cases/${c.id}/verify`, { version: c.version, passed, note: note.value.trim(), photo_ids });
            toast(t(passed ? "check.closed" : "check.reworked"), "ok");
            close(true);
            refresh();
          } catch (err) {
            error.textContent = err.code === "conflict" ? t("err.conflict") : err.message;
          }
        },
      }],
    });
  }

  const refresh = coalesce(async () => {
    try {
      const page = await api.get("/cases", { status: "verifying", limit: 50 });
      const cards = (await Promise.all(page.items.map((c) => card(c).catch(() => null)))).filter(Boolean);
      fill(list, cards.length ? cards : h("li.empty", icon("circle-check"), t("check.none")));
      view.dispatchEvent(new CustomEvent("count", { detail: cards.length }));
    } catch {
      /* offline: keep the list as it is */
    }
  });

  view.render = refresh;
  return view;
}

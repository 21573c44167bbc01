// The report form: event type, position, photos, note -> the outbox (sent at once when online).
import { h, icon, toast } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { enqueue, flush } from "../lib/outbox.js";
import { photoPicker } from "../lib/photos.js";
import { eventPicker } from "./picker.js";
import { positionCard } from "./position.js";

export function reportForm({ api, config, catalogue, user, onQueued }) {
  const type = eventPicker(catalogue, () => check());
  const position = positionCard({ api, config });
  const photos = photoPicker({ max: config.photo.max_count, opts: { maxSide: config.photo.max_side, quality: config.photo.quality } });
  const note = h("textarea", { name: "description", rows: 3, maxlength: 2000, placeholder: t("form.note_hint") });
  const submit = h("button.primary.block.big", { type: "submit" }, icon("send"), h("span", t("form.submit")));
  const hint = h("p.form-hint");

  function check() {
    const missing = [];
    if (!type.chosen()) missing.push(t("form.need_type"));
    if (!position.current()) missing.push(t("form.need_position"));
    hint.textContent = missing.join(" · ");
    return !missing.length;
  }

  const form = h("form.report-form", {
    novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      if (!check()) return;
      const et = type.chosen();
      const p = position.current();
      submit.disabled = true;
      try {
        const report = {
          event_type: et.code,
          lon: p.lon,
          lat: p.lat,
          crs: p.crs,
          accuracy_m: p.accuracy_m ?? null,
          description: note.value.trim(),
          captured_at: new Date().toISOString(),
        };
        const entry = await enqueue(user.username, report, {
          photos: photos.blobs(),
          fix: position.fix(),
          event: { code: et.code, name_zh: et.name_zh, name_en: et.name_en, icon: et.icon, class_code: et.class_code },
        });
        type.reset();
        photos.clear();
        note.value = "";
        position.reset();
        onQueued?.(entry);
        if (!navigator.onLine) toast(t("form.queued_offline"), "warn");
        await flush(api, user.username);
      } finally {
        submit.disabled = false;
      }
    },
  },
  h("section.card", h("div.card-title", icon("list"), h("span", t("form.type"))), type),
  position,
  h("section.card", h("div.card-title", icon("camera"), h("span", t("form.photos")), h("small.muted", t("form.photos_hint"))), photos),
  h("section.card", h("div.card-title", icon("pencil"), h("span", t("form.note"))), note),
  hint,
  submit);
  form.start = () => position.start();
  form.shown = () => position.invalidate();
  return form;
}

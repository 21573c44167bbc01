// Choosing the event type: the focus problems (重点问题) first as big tiles, then every class,
// with a search over Chinese and English names and codes.
import { eventIcon } from "../lib/catalogue.js";
import { fill, h, icon, sheet } from "../lib/dom.js";
import { lang, pick, t } from "../lib/i18n.js";

export function eventPicker(catalogue, onChange) {
  let chosen = null;
  const button = h("button.picker-button", { type: "button", onclick: open }, "");
  const render = () => {
    if (!chosen) {
      fill(button, icon("list", "lead"), h("span.placeholder", t("form.choose_type")), icon("chevron-right", "trail"));
      return;
    }
    fill(button, eventIcon(chosen), h("span.label", h("strong", pick(chosen)), h("small", `${chosen.code} · ${pick(chosen, "class")}${chosen.urgent ? " · " + t("form.urgent") : ""}`)), icon("chevron-right", "trail"));
  };

  function tile(et, close) {
    return h("button.type-tile", { type: "button", dataset: { code: et.code }, onclick: () => { choose(et); close(et); } },
      eventIcon(et), h("span", pick(et)), et.urgent ? h("i.urgent", t("form.urgent")) : null);
  }

  async function open() {
    const list = h("div.type-list");
    const search = h("input.search", { type: "search", placeholder: t("form.search_type"), "aria-label": t("form.search_type") });
    let closeSheet = () => {};
    const draw = () => {
      const q = search.value.trim().toLowerCase();
      const match = (et) => !q || et.code.includes(q) || et.name_zh.includes(q) || et.name_en.toLowerCase().includes(q) || (et.class_zh || "").includes(q);
      const blocks = [];
      const focus = catalogue.focus().filter(match);
      if (focus.length && !q) blocks.push(h("h3", icon("flag"), t("form.focus")), h("div.tiles", focus.map((et) => tile(et, closeSheet))));
      for (const g of catalogue.groups) {
        const types = g.types.map((x) => catalogue.type(x.code)).filter(match);
        if (!types.length) continue;
        blocks.push(h("h3", `${g.class_code} ${lang() === "en" ? g.class_en : g.class_zh}`),
          h("div.rows", types.map((et) => h("button.type-row", { type: "button", dataset: { code: et.code }, onclick: () => { choose(et); closeSheet(et); } },
            eventIcon(et, "small"), h("span", pick(et)), h("small", et.code)))));
      }
      fill(list, blocks.length ? blocks : h("p.empty", t("form.no_match")));
    };
    search.addEventListener("input", draw);
    const body = h("div.type-picker", search, list);
    const done = sheet(t("form.choose_type"), body);
    closeSheet = (v) => body.closest(".backdrop")?.querySelector(".close")?.click() ?? v;
    draw();
    await done;
  }

  function choose(et) {
    chosen = et;
    render();
    onChange?.(et);
  }

  render();
  button.chosen = () => chosen;
  button.reset = () => { chosen = null; render(); };
  button.rerender = render;
  return button;
}

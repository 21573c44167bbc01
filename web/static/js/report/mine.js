// "My reports": the outbox on this phone (queued -> sending -> sent, and the case each became),
// with case statuses kept live from the feed.
import { caseBadge, eventIcon } from "../lib/catalogue.js";
import { fill, h, icon } from "../lib/dom.js";
import { fmtTime, pick, t } from "../lib/i18n.js";
import { entries, flush, remove } from "../lib/outbox.js";

export function myReports({ api, user }) {
  const summary = h("div.outbox-summary");
  const list = h("ul.report-list", { "aria-live": "polite" });
  const view = h("div.mine", summary, list);

  function stateChip(e) {
    if (e.state === "sent") return h("span.state.sent", icon("circle-check"), t("out.sent"));
    if (e.state === "sending") return h("span.state.sending", icon("cloud-upload"), t("out.sending"));
    if (e.state === "failed") return h("span.state.failed", icon("triangle-alert"), t("out.failed"));
    return h("span.state.queued", icon("wifi-off"), t("out.queued"));
  }

  function item(e) {
    const et = e.event || { code: e.report.event_type };
    const lines = [
      h("div.row1", eventIcon(et, "small"), h("strong", pick(et) || et.code), stateChip(e)),
      h("div.row2", h("span", icon("clock"), t("out.captured", { at: fmtTime(e.report.captured_at) })),
        e.fix ? h("span", icon("locate"), `GPS ±${Math.round(e.fix.accuracy)} m`) : null),
    ];
    if (e.case) {
      lines.push(h("div.row3", h("span.case-no", t("out.case", { no: e.case.case_no })), caseBadge(e.case.status),
        e.case.joined_existing ? h("small.muted", t("out.joined")) : null));
    }
    if (e.state === "failed") {
      lines.push(h("div.row3.error", h("span", e.error || ""),
        h("button.ghost.small", { type: "button", onclick: () => remove(e.key) }, icon("x"), t("out.discard"))));
    }
    if (e.report.description) lines.push(h("p.note", e.report.description));
    return h("li.report-item", { dataset: { key: e.key, state: e.state, case: e.case?.id ?? "" } }, lines);
  }

  async function render() {
    const all = await entries(user.username);
    const waiting = all.filter((e) => e.state === "queued" || e.state === "sending").length;
    fill(summary,
      waiting
        ? h("div.banner.warn", icon("wifi-off"), h("span", t("out.waiting", { n: waiting })),
            h("button.secondary.small", { type: "button", onclick: () => flush(api, user.username) }, t("out.send_now")))
        : h("div.banner.ok", icon("circle-check"), h("span", t("out.all_sent"))));
    fill(list, all.length ? all.map(item) : h("li.empty", t("out.none")));
    view.dispatchEvent(new CustomEvent("count", { detail: waiting }));
  }

  view.render = render;
  return view;
}

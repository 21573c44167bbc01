// The unit's inbox: live tickets, the ones waiting to be accepted first, each with its
// countdown; new tickets announce themselves (banner, vibration, title count).
import { caseBadge, eventIcon, placeOf, ticketBadge } from "../lib/catalogue.js";
import { countdownChip } from "../lib/deadline.js";
import { coalesce, fill, h, icon } from "../lib/dom.js";
import { pick, t, tr } from "../lib/i18n.js";

const ORDER = { dispatched: 0, accepted: 1, in_progress: 1, resolved: 2 };
const FILTERS = { todo: ["dispatched"], doing: ["accepted", "in_progress"], done: ["resolved"], all: null };

export function inbox({ api, catalogue, onOpen }) {
  let tickets = [];
  let filter = "all";
  const fresh = new Set();
  const chips = h("div.filters", { role: "tablist" });
  const list = h("ul.ticket-list", { "aria-live": "polite" });
  const view = h("div.inbox", chips, list);

  function sortKey(tk) {
    const due = tk.status === "dispatched" ? tk.accept_due : tk.resolve_due;
    return [ORDER[tk.status] ?? 3, due || "9999"];
  }

  function card(tk) {
    const c = tk.case;
    const et = catalogue.type(c.event_type.code);
    const start = tk.rework_count ? null : tk.dispatched_at;
    return h("li.ticket-card", { dataset: { ticket: tk.ticket_id, status: tk.status, case: c.id }, class: fresh.has(tk.ticket_id) ? "fresh" : null, onclick: () => { fresh.delete(tk.ticket_id); onOpen(tk.ticket_id); } },
      h("div.row1", eventIcon(et), h("div.title", h("strong", pick(et)), h("small", `${c.case_no} · ${t(`role.${tk.role}`)}`)), ticketBadge(tk.status)),
      h("div.place", icon("map-pin"), h("span", placeOf(c.location))),
      c.description ? h("p.note", c.description) : null,
      h("div.row3", countdownChip(tk, { start }), c.status !== "dispatched" ? caseBadge(c.status) : null, et.urgent ? h("span.tag.urgent", t("form.urgent")) : null, icon("chevron-right", "trail")));
  }

  function render() {
    const counts = {};
    for (const [name, st] of Object.entries(FILTERS)) counts[name] = st ? tickets.filter((x) => st.includes(x.status)).length : tickets.length;
    fill(chips, ...Object.keys(FILTERS).map((name) =>
      h("button.chip", { type: "button", role: "tab", "aria-selected": filter === name, class: filter === name ? "active" : null, onclick: () => { filter = name; render(); } },
        tr(`inbox.${name}`), h("b", counts[name]))));
    const shown = tickets.filter((x) => !FILTERS[filter] || FILTERS[filter].includes(x.status))
      .sort((a, b) => { const [x, y] = [sortKey(a), sortKey(b)]; return x[0] - y[0] || x[1].localeCompare(y[1]); });
    fill(list, shown.length ? shown.map(card) : h("li.empty", icon("inbox"), h("span", t("inbox.empty"))));
    const waiting = counts.todo;
    document.title = (waiting ? `(${waiting}) ` : "") + `${t("page.team")} · ${t("app.name")}`;
  }

  const refresh = coalesce(async () => {
    const all = await api.all("/tickets", {}, 500);
    tickets = all;
    render();
  });

  view.refresh = refresh;
  view.render = render;
  view.markFresh = (id) => fresh.add(id);
  view.ticket = (id) => tickets.find((x) => x.ticket_id === id);
  return view;
}

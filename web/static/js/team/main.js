// /team: an enforcement team's phone page: the unit's live inbox and each ticket's actions.
import { boot } from "../lib/boot.js";
import { Catalogue } from "../lib/catalogue.js";
import { h, icon, toast } from "../lib/dom.js";
import { Feed } from "../lib/feed.js";
import { onLangChange, pick, t } from "../lib/i18n.js";
import { ticketDetail } from "./detail.js";
import { inbox } from "./inbox.js";

async function main() {
  const { config, api, user, pill, main: root } = await boot({ page: "team", roles: ["team"] });
  const catalogue = await Catalogue.load(api);
  const unitBar = h("div.unit-bar", icon("shield-check"), h("strong", catalogue.unitName(user.unit_id)), h("small", user.unit_id));
  const box = inbox({ api, catalogue, onOpen: (id) => (location.hash = `#ticket/${id}`) });
  const detail = ticketDetail({ api, config, catalogue, onBack: () => history.length > 1 ? history.back() : (location.hash = ""), onChanged: () => box.refresh() });
  root.append(unitBar, box, detail);

  function route() {
    const m = location.hash.match(/^#ticket\/(\d+)$/);
    box.hidden = Boolean(m);
    unitBar.hidden = Boolean(m);
    detail.hidden = !m;
    if (m) detail.open(Number(m[1])).catch((err) => toast(err.message, "error"));
    scrollTo(0, 0);
  }
  addEventListener("hashchange", route);
  route();
  await box.refresh();

  function announce(ev) {
    box.markFresh(ev.ticket_id);
    const et = catalogue.type(ev.case?.event_type);
    const banner = toast(`${t("team.new_ticket")} · ${pick(et)} · ${ev.case?.case_no ?? ""}`, "new", 8000);
    banner.addEventListener("click", () => (location.hash = `#ticket/${ev.ticket_id}`));
    navigator.vibrate?.([200, 100, 200]);
  }

  const feed = new Feed({
    api,
    onSnapshot: () => box.refresh(),
    onEvent: (ev) => {
      if (ev.type === "ticket.dispatched" && ev.unit_id === user.unit_id) announce(ev);
      box.refresh();
      if (ev.ticket_id && detail.current() === ev.ticket_id && !detail.hidden && ev.actor_id !== user.id) detail.open(ev.ticket_id);
    },
    onState: (s) => pill.set(s),
    onAuthLost: () => location.reload(),
  });
  feed.start().catch(() => feed.connect());
  onLangChange(() => { box.render(); route(); });
}

main().catch((err) => {
  console.error(err);
  document.getElementById("app").textContent = String(err.message || err);
});

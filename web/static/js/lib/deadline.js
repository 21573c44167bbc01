// Deadline traffic lights (green < 80 % of the allowed time used, yellow 80–100 %, red past due)
// and their live countdowns. The server's deadline_state counts working hours and is the truth
// when we have it; between refreshes the clock can only push a light towards red.
import { h } from "./dom.js";
import { fmtDuration, t } from "./i18n.js";

const RANK = { done: 0, green: 1, yellow: 2, red: 3 };
const LIVE = new Set(["dispatched", "accepted", "in_progress"]);

/** The due time of the step a ticket is in, or null when it has none. */
export function dueOf(ticket) {
  if (!LIVE.has(ticket.status)) return null;
  return ticket.status === "dispatched" ? ticket.accept_due : ticket.resolve_due;
}

/**
 * {state, due, leftMs} for a ticket now. `start` (ISO) is when its clock started, if known:
 * with it the clock-time share gives yellow; without it only red is derived.
 */
export function lightOf(ticket, { now = Date.now(), start = null } = {}) {
  const due = dueOf(ticket);
  if (!due) return { state: "done", due: null, leftMs: null };
  const dueMs = Date.parse(due);
  const leftMs = dueMs - now;
  let state = ticket.deadline_state && ticket.deadline_state !== "done" ? ticket.deadline_state : "green";
  let clock = "green";
  if (leftMs <= 0) clock = "red";
  else if (start) {
    const total = dueMs - Date.parse(start);
    if (total > 0 && (now - Date.parse(start)) / total >= 0.8) clock = "yellow";
  }
  if (RANK[clock] > RANK[state]) state = clock;
  return { state, due, leftMs };
}

/** The worst light among tickets (a case's colour on the map). */
export function worst(lights) {
  return lights.reduce((a, b) => (RANK[b.state] > RANK[a.state] ? b : a), { state: "done", leftMs: null });
}

/** A chip "剩 1小时05分" / "超时 12分" kept up to date by tick(). */
export function countdownChip(ticket, opts = {}) {
  if (!dueOf(ticket)) return null; // no step is timed: nothing to count down
  const el = h("span.countdown");
  el.update = () => {
    const l = lightOf(ticket, opts);
    el.dataset.state = l.state;
    if (l.leftMs === null) {
      el.textContent = t("deadline.none");
      return l;
    }
    const label = ticket.status === "dispatched" ? t("deadline.accept") : t("deadline.resolve");
    el.textContent = l.leftMs > 0
      ? t("deadline.left", { step: label, d: fmtDuration(l.leftMs) })
      : t("deadline.over", { step: label, d: fmtDuration(l.leftMs) });
    return l;
  };
  el.classList.add("ticking");
  el.update();
  return el;
}

/** Refresh every countdown on the page (called once a second). */
export function tick(root = document) {
  for (const el of root.querySelectorAll(".countdown.ticking")) el.update?.();
}

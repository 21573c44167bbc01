// The command center's picture of the city: every open case with its tickets, from the feed's
// snapshot and then event by event; closed and rejected cases leave it (after a last look).
import { lightOf, worst } from "../lib/deadline.js";

const LIVE = new Set(["dispatched", "accepted", "in_progress", "resolved"]);
export const OPEN = new Set(["reported", "dispatched", "verifying"]);

export class CaseStore {
  constructor() {
    this.cases = new Map();
    this.listeners = new Set();
  }

  on(fn) {
    this.listeners.add(fn);
  }

  emit(kind, c, ev) {
    for (const fn of this.listeners) fn(kind, c, ev);
  }

  /** Replace everything with a snapshot {seq, cases: [summary + tickets]}. */
  load(snapshot) {
    this.cases.clear();
    for (const c of snapshot.cases) {
      this.cases.set(c.id, { ...c, tickets: new Map((c.tickets || []).map((tk) => [tk.id, tk])) });
    }
    this.emit("reset");
  }

  /** Apply one feed event; returns the case as it is now. */
  apply(ev) {
    if (!ev.case_id || !ev.case) return null;
    const known = this.cases.get(ev.case_id);
    const c = known ? Object.assign(known, ev.case) : { ...ev.case, tickets: new Map() };
    if (ev.ticket) c.tickets.set(ev.ticket.id, { ...c.tickets.get(ev.ticket.id), ...ev.ticket });
    if (OPEN.has(c.status)) {
      this.cases.set(c.id, c);
      this.emit(known ? "update" : "new", c, ev);
    } else {
      this.cases.delete(c.id);
      this.emit("gone", c, ev);
    }
    return c;
  }

  /** The tickets still being worked. */
  static live(c) {
    return [...c.tickets.values()].filter((tk) => LIVE.has(tk.status));
  }

  /** The case's deadline light: its worst live ticket, by clock from the case's creation. */
  static light(c, now = Date.now()) {
    return worst(CaseStore.live(c).map((tk) => lightOf(tk, { now, start: c.created_at })));
  }

  /** Lead unit id (the lead's live ticket, else any ticket's unit). */
  static lead(c) {
    const tks = [...c.tickets.values()];
    return (tks.find((x) => x.role === "lead" && LIVE.has(x.status)) || tks.find((x) => x.role === "lead") || tks[0])?.unit_id || null;
  }
}

// The figures' period: this month, last month or chosen days, as local calendar days of the
// city ("YYYY-MM-DD", both ends included, as the stats API takes them).
import { lang, timeZone } from "../lib/i18n.js";

const pad = (n) => String(n).padStart(2, "0");
const utc = (iso) => new Date(`${iso}T00:00:00Z`);
const iso = (d) => d.toISOString().slice(0, 10);

/** Today (or the day of `now`) in the city's time zone. */
export function localDay(now = new Date()) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: timeZone(), year: "numeric", month: "2-digit", day: "2-digit" }).format(now);
}

export function addDays(day, n) {
  const d = utc(day);
  d.setUTCDate(d.getUTCDate() + n);
  return iso(d);
}

/** Every day from `from` to `to`, both included. */
export function daysOf(from, to) {
  const out = [];
  for (let d = from; d <= to; d = addDays(d, 1)) out.push(d);
  return out;
}

export const isWeekend = (day) => [0, 6].includes(utc(day).getUTCDay());

/** kind: "month" (the 1st to today), "last" (the whole previous month) or "custom". */
export function periodOf(kind, custom, today = localDay()) {
  const [y, m] = today.split("-").map(Number);
  if (kind === "month") return { from: `${y}-${pad(m)}-01`, to: today };
  if (kind === "last") {
    const [ly, lm] = m === 1 ? [y - 1, 12] : [y, m - 1];
    const last = new Date(Date.UTC(ly, lm, 0)).getUTCDate();
    return { from: `${ly}-${pad(lm)}-01`, to: `${ly}-${pad(lm)}-${pad(last)}` };
  }
  return { from: custom.from, to: custom.to };
}

/** "12月1日" / "1 Dec" */
export function fmtDay(day, { year = false } = {}) {
  const opts = { timeZone: "UTC", month: lang() === "zh" ? "long" : "short", day: "numeric" };
  if (year) opts.year = "numeric";
  return new Intl.DateTimeFormat(lang() === "zh" ? "zh-CN" : "en-GB", opts).format(utc(day));
}

/** "12/1" for chart axes */
export const shortDay = (day) => `${Number(day.slice(5, 7))}/${Number(day.slice(8, 10))}`;

export function fmtPeriod({ from, to }) {
  if (from === to) return fmtDay(from, { year: true });
  const year = from.slice(0, 4) !== to.slice(0, 4);
  return `${fmtDay(from, { year })} – ${fmtDay(to, { year })}`;
}

// zh-CN first, English switchable: t(key) looks the key up in strings.js for the chosen language.
import { STRINGS } from "./strings.js";

const KEY = "gd.lang";
const listeners = new Set();
let current = localStorage.getItem(KEY) || (navigator.language?.startsWith("en") ? "en" : "zh");
document.documentElement.lang = current === "zh" ? "zh-CN" : "en";

export const lang = () => current;

export function setLang(next) {
  if (next === current) return;
  current = next;
  localStorage.setItem(KEY, next);
  document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
  applyI18n();
  for (const fn of listeners) fn(next);
}

export function onLangChange(fn) {
  listeners.add(fn);
}

/** t("case.status.closed") or t("n.cases", {n: 3}); falls back to Chinese, then the key. */
export function t(key, vars) {
  let s = STRINGS[current]?.[key] ?? STRINGS.zh[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? ""));
  return s;
}

/** The name of a catalogue object in the current language: pick(et, "name") -> name_zh|name_en */
export function pick(obj, base = "name") {
  if (!obj) return "";
  return (current === "en" ? obj[`${base}_en`] : obj[`${base}_zh`]) || obj[`${base}_zh`] || "";
}

/** Fill [data-i18n] text and [data-i18n-placeholder] / [data-i18n-title] attributes. */
export function applyI18n(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]"))
    el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

let zone = "Asia/Shanghai";
export function setTimeZone(tz) {
  zone = tz || zone;
}
export const timeZone = () => zone;

const locale = () => (current === "zh" ? "zh-CN" : "en-GB");

/** "11-25 12:20" in the city's time zone */
export function fmtTime(iso, { seconds = false, date = true } = {}) {
  if (!iso) return "";
  const opts = { timeZone: zone, hour: "2-digit", minute: "2-digit", hour12: false };
  if (seconds) opts.second = "2-digit";
  if (date) Object.assign(opts, { month: "2-digit", day: "2-digit" });
  return new Intl.DateTimeFormat(locale(), opts).format(new Date(iso));
}

/** "2 h 05 min" / "2小时05分" for a duration in ms (absolute value) */
export function fmtDuration(ms) {
  const m = Math.floor(Math.abs(ms) / 60000);
  const d = Math.floor(m / 1440);
  const hh = Math.floor((m % 1440) / 60);
  const mm = m % 60;
  if (d) return t("dur.dh", { d, h: hh });
  if (hh) return t("dur.hm", { h: hh, m: String(mm).padStart(2, "0") });
  if (m) return t("dur.m", { m });
  return t("dur.s", { s: Math.floor(Math.abs(ms) / 1000) });
}

/** Start of today (00:00) in the city's time zone, as a Date. */
export function startOfToday(now = new Date()) {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  }).formatToParts(now);
  const get = (type) => Number(parts.find((p) => p.type === type).value);
  const sinceMidnight = ((get("hour") % 24) * 3600 + get("minute") * 60 + get("second")) * 1000;
  return new Date(Math.floor(now.getTime() / 1000) * 1000 - sinceMidnight);
}

/** A span whose text follows the language: tr("form.submit") */
export function tr(key, tag = "span") {
  const el = document.createElement(tag);
  el.dataset.i18n = key;
  el.textContent = t(key);
  return el;
}

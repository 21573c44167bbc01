// The daily trend of the figures' period, drawn as SVG: reports received per day as bars,
// cases closed and deadlines missed as lines. One band per day, weekends shaded; a band's
// title gives that day's three numbers.
import { t } from "../lib/i18n.js";
import { isWeekend, shortDay } from "./period.js";

const NS = "http://www.w3.org/2000/svg";
export const SERIES = [
  { key: "reports", kind: "bar" },
  { key: "closed", kind: "line" },
  { key: "overdue", kind: "line" },
];
const PAD = { left: 44, right: 14, top: 14, bottom: 28 };

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, v);
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** The y axis: whole steps of 1, 2 or 5 × 10^k, at most five of them, reaching at least v. */
export function yAxis(v) {
  const top = Math.max(4, v);
  for (let p = 1; ; p *= 10) {
    for (const m of [1, 2, 5]) {
      const step = m * p;
      const n = Math.ceil(top / step - 1e-9);
      if (n <= 5) return { step, top: n * step };
    }
  }
}

/**
 * Draw `rows` (the /stats/days rows: key = day, counts) into `el`, sized to it.
 * Bars are rect.bar-reports, points circle.pt-closed / circle.pt-overdue, one per day.
 */
export function drawTrend(el, rows) {
  const W = Math.max(240, el.clientWidth);
  const H = Math.max(140, el.clientHeight);
  const n = rows.length;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const band = plotW / Math.max(1, n);
  const { step, top } = yAxis(Math.max(0, ...rows.flatMap((r) => SERIES.map((s) => r.counts[s.key] || 0))));
  const x = (i) => PAD.left + band * (i + 0.5);
  const y = (v) => PAD.top + plotH * (1 - v / top);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "trend-svg", role: "img", "aria-label": t("fig.trend") });

  const grid = svg("g", { class: "grid" });
  rows.forEach((r, i) => {
    if (isWeekend(r.key)) grid.append(svg("rect", { class: "weekend", x: PAD.left + band * i, y: PAD.top, width: band, height: plotH }));
  });
  for (let v = 0; v <= top; v += step) {
    grid.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: v ? "tick" : "axis" }));
    grid.append(svg("text", { x: PAD.left - 8, y: y(v) + 4, class: "ylabel" }, v.toLocaleString()));
  }
  const every = Math.ceil(n / Math.max(1, Math.floor(plotW / 46)));
  rows.forEach((r, i) => {
    if (i % every === 0 || (i === n - 1 && i % every >= every / 2)) {
      grid.append(svg("text", { x: x(i), y: H - 8, class: "xlabel" }, shortDay(r.key)));
    }
  });
  root.append(grid);

  const barW = Math.max(1, Math.min(30, band * 0.62));
  const bars = svg("g", { class: "series-reports" });
  rows.forEach((r, i) => {
    const v = r.counts.reports || 0;
    bars.append(svg("rect", { class: "bar-reports", x: x(i) - barW / 2, y: y(v), width: barW, height: Math.max(0, y(0) - y(v)), rx: Math.min(3, barW / 3), "data-day": r.key, "data-value": v }));
  });
  root.append(bars);

  const dot = Math.max(1.6, Math.min(4, band * 0.2));
  for (const s of SERIES.filter((s) => s.kind === "line")) {
    const pts = rows.map((r, i) => [x(i), y(r.counts[s.key] || 0)]);
    const g = svg("g", { class: `series-${s.key}` });
    g.append(svg("polyline", { class: `line-${s.key}`, points: pts.map((p) => p.map((c) => c.toFixed(1)).join(",")).join(" ") }));
    rows.forEach((r, i) => g.append(svg("circle", { class: `pt-${s.key}`, cx: pts[i][0], cy: pts[i][1], r: dot, "data-day": r.key, "data-value": r.counts[s.key] || 0 })));
    root.append(g);
  }

  const hits = svg("g", { class: "hits" });
  rows.forEach((r, i) => {
    const text = `${r.key}  ${SERIES.map((s) => `${t(`fig.s.${s.key}`)} ${r.counts[s.key] || 0}`).join(" · ")}`;
    hits.append(svg("rect", { class: "hit", x: PAD.left + band * i, y: PAD.top, width: band, height: plotH, "data-day": r.key }, svg("title", {}, text)));
  });
  root.append(hits);
  el.replaceChildren(root);
}

// Small inline-SVG charts for the dashboard: line, bar, stacked bar and heatmap. No dependencies.
const NS = "http://www.w3.org/2000/svg";

// One colour per label position, stable across pages (colour-blind-friendly first eight).
export const PALETTE = ["#8c96a8", "#f2b134", "#4fb3d9", "#3d6fd6", "#d9483b", "#6aa84f", "#8e5cc4", "#c2771f", "#b7bec9", "#555e6e"];

export function labelColor(labels, label) {
  const i = labels.indexOf(label);
  return i >= 0 ? PALETTE[i % PALETTE.length] : "#999";
}

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, x, y, content, attrs = {}) {
  const t = el("text", { x, y, ...attrs }, parent);
  t.textContent = content;
  return t;
}

function svgRoot(width, height, label) {
  return el("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": label, class: "chart" });
}

// A value axis from `lo` with about four round steps (0, 100, 200, 300 rather than 0, 62.5, 125, ...).
function niceScale(value, lo = 0) {
  if (!(value > lo)) return { hi: lo + 1, step: 0.25 };
  const raw = (value - lo) / 4, p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw);
  return { hi: lo + Math.ceil((value - lo) / step - 1e-9) * step, step };
}

function ticksOf(lo, hi, step) {
  const out = [];
  for (let v = lo; v <= hi + step / 1e6; v += step) out.push(Math.round(v * 1e6) / 1e6);
  return out;
}

// A value axis over [lo, hi] (lo may be negative) with round steps and ticks at multiples of the step, so
// 0 is always a tick when the range spans it: {lo, hi, step, ticks}.
function valueAxis(lo, hi) {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / 4, p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw - 1e-12);
  const a = Math.floor(lo / step + 1e-9), b = Math.ceil(hi / step - 1e-9);
  const ticks = [];
  for (let k = a; k <= b; k++) ticks.push(Math.round(k * step * 1e6) / 1e6);
  return { lo: ticks[0], hi: ticks.at(-1), step, ticks };
}

// Short display names for long answer names.
export const shortLabel = (label) => (label === "not_a_face" ? "no face" : label.replace(/_/g, " "));

export function formatNumber(v) {
  if (v === null || v === undefined) return "–";
  if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (Math.abs(v) >= 1e4) return (v / 1e3).toFixed(0) + "k";
  if (Math.abs(v) >= 1e3) return (v / 1e3).toFixed(1) + "k";
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

function empty(container, message) {
  container.replaceChildren();
  const p = document.createElement("p");
  p.className = "empty";
  p.textContent = message;
  container.appendChild(p);
}

// series: [{name, color, points: [{x: Date|number, y: number|null}]}]. yMin / yMax widen the value axis (values
// beyond them still show: an agreement below 0 is drawn below the zero line, never clipped); xTicks: the x values
// to label (default: up to six spread over the domain); xPad: the margin added before the first and after the last x
// (always with padEnds, else only around a single x, which then sits in the middle of a sensible domain).
export function lineChart(container, { series, yMin = null, yMax = null, xFormat = (x) => x, yFormat = formatNumber, height = 220, area = false,
  title = "line chart", xTicks = null, xPad = 0.5, padEnds = false }) {
  const points = series.flatMap((s) => s.points.filter((p) => p.y !== null && p.y !== undefined));
  if (!points.length) return empty(container, "No data yet.");
  const W = 640, H = height, L = 46, R = 12, T = 14, B = 28;
  const xs = points.map((p) => +p.x);
  let x0 = Math.min(...xs), x1 = Math.max(...xs);
  const single = x0 === x1;
  if (single || padEnds) { x0 -= xPad; x1 += xPad; }
  const ys = points.map((p) => p.y);
  const axis = valueAxis(Math.min(yMin ?? 0, ...ys), Math.max(yMax ?? -Infinity, ...ys));
  const lo = axis.lo, hi = axis.hi;
  const sx = (x) => L + ((+x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => T + (1 - (y - lo) / (hi - lo || 1)) * (H - T - B);
  const svg = svgRoot(W, H, title);
  svg.dataset.yLo = String(lo);
  svg.dataset.yHi = String(hi);
  for (const y of axis.ticks) {
    el("line", { x1: L, x2: W - R, y1: sy(y), y2: sy(y), class: y === 0 && lo < 0 ? "grid zero-axis" : "grid" }, svg);
    text(svg, L - 6, sy(y) + 4, yFormat(y), { class: "tick", "text-anchor": "end" });
  }
  const count = Math.min(6, new Set(xs).size);
  const labelled = xTicks ? xTicks.map((x) => +x) : single ? [xs[0]]
    : Array.from({ length: count }, (_, i) => x0 + ((x1 - x0) * i) / Math.max(1, count - 1));
  labelled.forEach((x, i) => {
    const edge = !single && !xTicks && !padEnds && labelled.length > 1 ? (i === 0 ? "start" : i === labelled.length - 1 ? "end" : "middle") : "middle";
    text(svg, sx(x), H - 8, xFormat(x), { class: "tick x-tick", "text-anchor": edge });
  });
  series.forEach((s, index) => {
    const pts = s.points.filter((p) => p.y !== null && p.y !== undefined);
    if (!pts.length) return;
    const d = pts.map((p, i) => `${i ? "L" : "M"}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join("");
    const base = sy(Math.max(lo, Math.min(0, hi)));
    if (area) el("path", { d: `${d}L${sx(pts.at(-1).x)},${base}L${sx(pts[0].x)},${base}Z`, fill: s.color, opacity: 0.12 }, svg);
    el("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, "stroke-linejoin": "round" }, svg);
    if (pts.length <= 40) for (const p of pts) {
      // Each later series a little smaller, so equal values (α and κ often are) both stay visible.
      const c = el("circle", { cx: sx(p.x), cy: sy(p.y), r: Math.max(2.5, 4.5 - 1.5 * index), fill: s.color, "data-x": +p.x, "data-y": p.y, "data-series": s.name }, svg);
      el("title", {}, c).textContent = `${s.name}: ${yFormat(p.y)} (${xFormat(p.x)})`;
    }
  });
  if (series.length > 1) legend(svg, series, L + 4, T);
  container.replaceChildren(svg);
}

function legend(svg, series, x, y) {
  series.forEach((s, i) => {
    el("rect", { x: x + i * 130, y: y - 8, width: 10, height: 10, rx: 2, fill: s.color }, svg);
    text(svg, x + i * 130 + 14, y + 1, s.name, { class: "legend" });
  });
}

// bars: [{label, value, color?, title?}]
export function barChart(container, { bars, color = "#3056d3", height = 220, valueFormat = formatNumber, xTitle = "", title = "bar chart" }) {
  if (!bars.length || bars.every((b) => !b.value)) return empty(container, "No data yet.");
  const W = 640, H = height, L = 46, R = 8, T = 16, B = xTitle ? 44 : 30;
  const { hi, step } = niceScale(Math.max(...bars.map((b) => b.value)));
  const band = (W - L - R) / bars.length, bw = Math.max(4, band * 0.7);
  const sy = (v) => T + (1 - v / hi) * (H - T - B);
  const svg = svgRoot(W, H, title);
  for (const v of ticksOf(0, hi, step)) {
    el("line", { x1: L, x2: W - R, y1: sy(v), y2: sy(v), class: "grid" }, svg);
    text(svg, L - 6, sy(v) + 4, valueFormat(v), { class: "tick", "text-anchor": "end" });
  }
  bars.forEach((b, i) => {
    const x = L + i * band + (band - bw) / 2;
    const r = el("rect", { x, y: sy(b.value), width: bw, height: Math.max(0, sy(0) - sy(b.value)), rx: 2, fill: b.color || color }, svg);
    el("title", {}, r).textContent = b.title || `${b.label}: ${valueFormat(b.value)}`;
    if (band > 26) text(svg, x + bw / 2, sy(b.value) - 4, valueFormat(b.value), { class: "value", "text-anchor": "middle" });
    text(svg, x + bw / 2, H - B + 14, b.label, { class: "tick", "text-anchor": "middle" });
  });
  if (xTitle) text(svg, L + (W - L - R) / 2, H - 6, xTitle, { class: "axis-title", "text-anchor": "middle" });
  container.replaceChildren(svg);
}

// Counts per fixed time step (an hour by default) on a true time axis: bars: [{x: Date|number (the step's start),
// value}]. Every step from the first to the last is drawn, a missing or empty one as a zero bar (a one-pixel stub
// on the baseline), so a gap is never bridged; one step alone gets the domain of that one step, not NaN or 0 width.
export function timeBarChart(container, { bars, step = 3600e3, color = "#3056d3", height = 220, xFormat = (x) => new Date(x).toISOString(),
  valueFormat = formatNumber, unit = "answers", title = "bar chart" }) {
  if (!bars.length) return empty(container, "No data yet.");
  const byStart = new Map(bars.map((b) => [Math.floor(+b.x / step) * step, b.value || 0]));
  const first = Math.min(...byStart.keys()), last = Math.max(...byStart.keys());
  const steps = [];
  for (let t = first; t <= last; t += step) steps.push({ x: t, value: byStart.get(t) || 0 });
  const W = 640, H = height, L = 46, R = 12, T = 16, B = 28;
  const x0 = first, x1 = last + step;  // the domain covers each step's whole width
  const axis = valueAxis(0, Math.max(1, ...steps.map((b) => b.value)));
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (v) => T + (1 - v / axis.hi) * (H - T - B);
  const svg = svgRoot(W, H, title);
  svg.dataset.x0 = String(x0);
  svg.dataset.x1 = String(x1);
  for (const v of axis.ticks) {
    el("line", { x1: L, x2: W - R, y1: sy(v), y2: sy(v), class: "grid" }, svg);
    text(svg, L - 6, sy(v) + 4, valueFormat(v), { class: "tick", "text-anchor": "end" });
  }
  const band = (W - L - R) / steps.length, gap = band > 4 ? Math.min(2, band * 0.15) : 0;
  for (const b of steps) {
    const h = Math.max(b.value ? 1 : 0, sy(0) - sy(b.value));
    const r = el("rect", { x: sx(b.x) + gap / 2, y: sy(0) - Math.max(h, 1), width: Math.max(0.5, band - gap), height: Math.max(h, 1), rx: band > 6 ? 1.5 : 0,
      fill: b.value ? color : "#d5d9e0", class: b.value ? "bar" : "bar zero", "data-x": b.x, "data-value": b.value }, svg);
    el("title", {}, r).textContent = `${xFormat(b.x)}: ${valueFormat(b.value)} ${unit}`;
  }
  // At most five labels, each centred under its step and kept clear of the right edge.
  const every = Math.max(1, Math.ceil(steps.length / 5));
  steps.forEach((b, i) => {
    const at = sx(b.x + step / 2);
    if (i % every || (steps.length > 1 && at > W - R - 34)) return;
    text(svg, at, H - 8, xFormat(b.x), { class: "tick x-tick", "text-anchor": "middle" });
  });
  container.replaceChildren(svg);
}

// A small horizontal stacked bar of a vote distribution: {label: count}.
export function stackedBar(votes, labels, { width = 120, height = 14 } = {}) {
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "votes", role: "img" });
  const entries = Object.entries(votes).filter(([, n]) => n > 0)
    .sort((a, b) => labels.indexOf(a[0]) - labels.indexOf(b[0]));
  const total = entries.reduce((s, [, n]) => s + n, 0) || 1;
  let x = 0;
  for (const [label, n] of entries) {
    const w = (n / total) * width;
    const r = el("rect", { x, y: 0, width: Math.max(0, w - 1), height, fill: labelColor(labels, label) }, svg);
    el("title", {}, r).textContent = `${label}: ${n}`;
    x += w;
  }
  svg.setAttribute("aria-label", entries.map(([l, n]) => `${l} ${n}`).join(", "));
  return svg;
}

// matrix: rows x cols counts; shading by row share so rare classes read as clearly as common ones.
export function heatmap(container, { rows, cols, matrix, rowTitle = "consensus", colTitle = "answer", title = "heatmap", cell = 46 }) {
  if (!matrix || !matrix.length || matrix.every((r) => r.every((v) => !v))) return empty(container, "No data yet.");
  rows = rows.map(shortLabel);
  cols = cols.map(shortLabel);
  const L = 96, T = 88, W = L + cols.length * cell + 48, H = T + rows.length * cell + 8;
  const svg = svgRoot(W, H, title);
  svg.style.maxWidth = `${W}px`;
  cols.forEach((c, j) => text(svg, L + j * cell + cell / 2, T - 8, c, { class: "tick", transform: `rotate(-40 ${L + j * cell + cell / 2} ${T - 8})` }));
  text(svg, L + (cols.length * cell) / 2, 14, `${colTitle} →`, { class: "axis-title", "text-anchor": "middle" });
  text(svg, 12, T - 8, `${rowTitle} ↓`, { class: "axis-title" });
  rows.forEach((r, i) => {
    text(svg, L - 8, T + i * cell + cell / 2 + 4, r, { class: "tick", "text-anchor": "end" });
    const total = matrix[i].reduce((s, v) => s + v, 0);
    matrix[i].forEach((v, j) => {
      const share = total ? v / total : 0;
      const hue = i === j ? "31,157,85" : "197,48,48";
      const rect = el("rect", { x: L + j * cell + 1, y: T + i * cell + 1, width: cell - 2, height: cell - 2, rx: 3,
        fill: v ? `rgba(${hue},${(0.08 + 0.92 * share).toFixed(3)})` : "#f3f4f6", class: "cell" }, svg);
      el("title", {}, rect).textContent = `${r} → ${cols[j]}: ${v} (${(share * 100).toFixed(1)}% of row)`;
      if (v) text(svg, L + j * cell + cell / 2, T + i * cell + cell / 2 + 4, share >= 0.995 ? "100%" : share >= 0.0995 ? `${Math.round(share * 100)}%` : `${(share * 100).toFixed(1)}%`,
        { class: share > 0.5 ? "cell-text light" : "cell-text", "text-anchor": "middle" });
    });
  });
  container.replaceChildren(svg);
}

// A line without axes for a table cell: one point per value (nulls skipped), the last one marked.
export function sparkline(values, { width = 96, height = 26, color = "#3056d3", label = "sparkline", lo = null, hi = null } = {}) {
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "sparkline", role: "img", "aria-label": label });
  const pts = values.map((y, x) => ({ x, y })).filter((p) => p.y !== null && p.y !== undefined);
  svg.dataset.points = String(pts.length);
  if (!pts.length) return svg;
  const y0 = lo ?? Math.min(...pts.map((p) => p.y)), y1 = hi ?? Math.max(...pts.map((p) => p.y));
  const sx = (x) => 2 + (values.length > 1 ? (x / (values.length - 1)) * (width - 4) : (width - 4) / 2);
  const sy = (y) => height - 3 - ((y - y0) / (y1 - y0 || 1)) * (height - 6);
  el("path", { d: pts.map((p, i) => `${i ? "L" : "M"}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(""), fill: "none", stroke: color, "stroke-width": 1.5 }, svg);
  const last = pts.at(-1);
  el("circle", { cx: sx(last.x), cy: sy(last.y), r: 2.2, fill: color }, svg);
  el("title", {}, svg).textContent = label;
  return svg;
}

// A valence-arousal plane, both axes fixed at -1..1 (so runs and projects compare by eye): points: [{x, y, label,
// item}], coloured by label (labels: the project's, for stable colours), with a legend of the labels present.
// onHover(point, {svg, sx, sy}) when the pointer enters a point (sx / sy map values to the plane, for overlays);
// onLeave() when it leaves the plane.
export function scatterChart(container, { points, labels, xTitle = "valence", yTitle = "arousal", title = "scatter", onHover = null,
  onLeave = null, size = 440 }) {
  if (!points.length) return empty(container, "No points yet.");
  const L = 44, R = 150, T = 14, B = 40, W = L + size + R, H = T + size + B;
  const sx = (x) => L + ((x + 1) / 2) * size, sy = (y) => T + (1 - (y + 1) / 2) * size;
  const svg = svgRoot(W, H, title);
  svg.style.maxWidth = `${W}px`;
  for (const v of [-1, -0.5, 0, 0.5, 1]) {
    const axis = v === 0 ? "grid zero-axis" : "grid";
    el("line", { x1: sx(v), x2: sx(v), y1: T, y2: T + size, class: axis }, svg);
    el("line", { x1: L, x2: L + size, y1: sy(v), y2: sy(v), class: axis }, svg);
    text(svg, sx(v), T + size + 14, String(v), { class: "tick x-tick", "text-anchor": "middle" });
    text(svg, L - 6, sy(v) + 4, String(v), { class: "tick", "text-anchor": "end" });
  }
  text(svg, L + size / 2, H - 6, `${xTitle} →`, { class: "axis-title", "text-anchor": "middle" });
  text(svg, 12, T + size / 2, `${yTitle} →`, { class: "axis-title", "text-anchor": "middle", transform: `rotate(-90 12 ${T + size / 2})` });
  const layer = el("g", { class: "points" }, svg);
  for (const p of points) {
    const c = el("circle", { cx: sx(p.x).toFixed(1), cy: sy(p.y).toFixed(1), r: 3.2, fill: labelColor(labels, p.label), class: "point",
      "data-item": p.item, "data-label": p.label }, layer);
    el("title", {}, c).textContent = `#${p.item} ${p.label || "no consensus"}: valence ${p.x.toFixed(2)}, arousal ${p.y.toFixed(2)}`;
  }
  const present = labels.filter((l) => points.some((p) => p.label === l));
  if (points.some((p) => !labels.includes(p.label))) present.push("");
  present.forEach((l, i) => {
    el("circle", { cx: L + size + 22, cy: T + 8 + i * 18, r: 5, fill: labelColor(labels, l) }, svg);
    text(svg, L + size + 32, T + 12 + i * 18, l ? shortLabel(l) : "no consensus", { class: "legend" });
  });
  const overlay = el("g", { class: "overlay" }, svg);
  if (onHover) {
    const byItem = new Map(points.map((p) => [String(p.item), p]));
    layer.addEventListener("mouseover", (event) => {
      const point = byItem.get(event.target.dataset?.item);
      if (point) onHover(point, { svg, overlay, sx, sy, target: event.target });
    });
  }
  if (onLeave) svg.addEventListener("mouseleave", () => onLeave({ overlay }));
  container.replaceChildren(svg);
}

// Shares (0..1, null = none) on a rows x cols grid, shaded by the share itself (not by row): rowNotes[i], when set,
// greys that row and says why (e.g. too few faces to read) in its label's tooltip and beside it.
export function shareHeatmap(container, { rows, cols, share, rowNotes = [], rowTitle = "", colTitle = "", title = "heatmap", cell = 40 }) {
  if (!share || !share.length) return empty(container, "No data yet.");
  const L = 150, T = 34, W = L + cols.length * cell + 8, H = T + rows.length * cell + 8;
  const svg = svgRoot(W, H, title);
  svg.style.maxWidth = `${W}px`;
  cols.forEach((c, j) => text(svg, L + j * cell + cell / 2, T - 8, c, { class: "tick", "text-anchor": "middle" }));
  if (colTitle) text(svg, L, 12, `${colTitle} →`, { class: "axis-title" });
  if (rowTitle) text(svg, 4, 12, `${rowTitle} ↓`, { class: "axis-title" });
  rows.forEach((r, i) => {
    const note = rowNotes[i] || "";
    const label = text(svg, L - 8, T + i * cell + cell / 2 + 4, r, { class: note ? "tick thin-row" : "tick", "text-anchor": "end" });
    if (note) el("title", {}, label).textContent = note;
    share[i].forEach((v, j) => {
      const rect = el("rect", { x: L + j * cell + 1, y: T + i * cell + 1, width: cell - 2, height: cell - 2, rx: 3, class: note ? "cell thin" : "cell",
        fill: v === null ? "#f3f4f6" : `rgba(48,86,211,${(0.06 + 0.94 * v).toFixed(3)})`, "data-share": v ?? "" }, svg);
      el("title", {}, rect).textContent = `${r}, ${cols[j]}: ${v === null ? "no faces" : `${(v * 100).toFixed(1)}%`}${note ? ` (${note})` : ""}`;
      if (v !== null) text(svg, L + j * cell + cell / 2, T + i * cell + cell / 2 + 4, `${Math.round(v * 100)}%`, { class: v > 0.55 ? "cell-text light" : "cell-text", "text-anchor": "middle" });
    });
  });
  container.replaceChildren(svg);
}

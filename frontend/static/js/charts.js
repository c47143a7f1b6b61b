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

// series: [{name, color, points: [{x: Date|number, y: number|null}]}]
export function lineChart(container, { series, yMin = null, yMax = null, xFormat = (x) => x, yFormat = formatNumber, height = 220, area = false, title = "line chart" }) {
  const points = series.flatMap((s) => s.points.filter((p) => p.y !== null && p.y !== undefined));
  if (!points.length) return empty(container, "No data yet.");
  const W = 640, H = height, L = 46, R = 12, T = 14, B = 28;
  const xs = points.map((p) => +p.x);
  let x0 = Math.min(...xs), x1 = Math.max(...xs);
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  const lo = yMin ?? Math.min(0, ...points.map((p) => p.y));
  const scale = niceScale(yMax ?? Math.max(...points.map((p) => p.y)), lo);
  const hi = yMax ?? scale.hi;
  const sx = (x) => L + ((+x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => T + (1 - (y - lo) / (hi - lo || 1)) * (H - T - B);
  const svg = svgRoot(W, H, title);
  for (const y of ticksOf(lo, hi, scale.step)) {
    el("line", { x1: L, x2: W - R, y1: sy(y), y2: sy(y), class: "grid" }, svg);
    text(svg, L - 6, sy(y) + 4, yFormat(y), { class: "tick", "text-anchor": "end" });
  }
  const ticks = Math.min(6, new Set(xs).size);
  for (let i = 0; i < ticks; i++) {
    const x = x0 + ((x1 - x0) * i) / Math.max(1, ticks - 1);
    text(svg, sx(x), H - 8, xFormat(x), { class: "tick", "text-anchor": i === 0 ? "start" : i === ticks - 1 ? "end" : "middle" });
  }
  for (const s of series) {
    const pts = s.points.filter((p) => p.y !== null && p.y !== undefined);
    if (!pts.length) continue;
    const d = pts.map((p, i) => `${i ? "L" : "M"}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join("");
    if (area) el("path", { d: `${d}L${sx(pts.at(-1).x)},${sy(lo)}L${sx(pts[0].x)},${sy(lo)}Z`, fill: s.color, opacity: 0.12 }, svg);
    el("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, "stroke-linejoin": "round" }, svg);
    if (pts.length <= 40) for (const p of pts) {
      const c = el("circle", { cx: sx(p.x), cy: sy(p.y), r: 3, fill: s.color }, svg);
      el("title", {}, c).textContent = `${s.name}: ${yFormat(p.y)} (${xFormat(p.x)})`;
    }
  }
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

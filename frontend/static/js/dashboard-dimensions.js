// Agreement page, #18: the valence-arousal scatter (a face's own answers on hover), agreement per dimension and class,
// AU prevalence per expression and agreement per AU. Panels exist only for what the project asks (the template says).
import { api, config, h, num, pct } from "./dashboard.js";
import { labelColor, scatterChart, shareHeatmap, shortLabel } from "./charts.js";

const LABELS = config.labels;
const NS = "http://www.w3.org/2000/svg";
const answersOf = new Map();  // item -> its answers (a hover fetches each face once)

function chip(label) {
  return label ? h("span", { class: "chip", style: `--chip:${labelColor(LABELS, label)}` }, shortLabel(label)) : h("span", { class: "muted" }, "none");
}

const signed = (v) => (v === null || v === undefined ? "–" : `${v >= 0 ? "+" : ""}${v.toFixed(2)}`);

// alpha and ICC of one row; a row over too few faces is greyed and says so instead of reading as a finding.
function figureCells(f, thin) {
  if (!f) return [h("td", { class: "num muted" }, "–"), h("td", { class: "num muted" }, "–")];
  const cls = f.thin ? "num greyed" : "num";
  const why = f.thin ? `only ${f.faces} faces with two or more answers (fewer than ${thin}): not enough to read` : `${f.faces} faces, ${f.answers} answers`;
  return [h("td", { class: cls, title: why }, num(f.alpha, 3)), h("td", { class: cls, title: why }, num(f.icc, 3))];
}

function vaTable(report) {
  const { valence, arousal, thin_class_faces: thin } = report;
  const body = document.querySelector("#va-agreement tbody");
  if (!valence && !arousal) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "empty" }, "This run has no valence-arousal figures: run quality again.")));
    return;
  }
  const classes = (valence || arousal).by_class.map((c) => c.label);
  const row = (name, v, a, faces) => h("tr", { "data-class": name, class: v?.thin || a?.thin ? "thin" : "" },
    h("td", {}, name === "" ? h("strong", {}, "all faces") : chip(name)),
    h("td", { class: "num" }, faces.toLocaleString(), v?.thin ? h("small", { class: "muted evidence-count" }, "too few faces") : null),
    ...figureCells(v, thin), ...figureCells(a, thin));
  const find = (d, c) => d?.by_class.find((x) => x.label === c);
  body.replaceChildren(row("", valence, arousal, (valence || arousal).faces),
    ...classes.map((c) => row(c, find(valence, c), find(arousal, c), (find(valence, c) || find(arousal, c)).faces)));
}

function auTables(report) {
  const au = report.action_units, thin = report.thin_class_faces;
  const grid = au.by_expression;
  const note = document.getElementById("au-heatmap-note");
  if (!grid) {
    document.getElementById("au-heatmap").replaceChildren(h("p", { class: "empty" }, report.asks.expression
      ? "This run has no action-unit figures: run quality again."
      : "This project asks no expression class, so action units are not broken down by expression."));
  } else {
    const notes = grid.thin.map((t, i) => (t ? `only ${grid.faces[i]} faces: too few to read (fewer than ${thin})` : ""));
    shareHeatmap(document.getElementById("au-heatmap"), { rows: grid.classes.map((c, i) => `${shortLabel(c)} (${grid.faces[i]})`),
      cols: grid.aus.map((n) => `AU${n}`), share: grid.share, rowNotes: notes, rowTitle: "consensus (faces)", colTitle: "share of the class's faces with the AU",
      title: "AU prevalence per expression" });
    const few = grid.classes.filter((_, i) => grid.thin[i]);
    note.textContent = few.length ? `Greyed: ${few.map(shortLabel).join(", ")} ${few.length === 1 ? "has" : "have"} fewer than ${thin} faces, too few to read a share from.` : "";
  }
  document.querySelector("#au-agreement tbody").replaceChildren(...au.per_au.map((a) => h("tr", { "data-au": a.au, class: a.alpha_note ? "unstable" : "" },
    h("td", {}, h("strong", {}, `AU${a.au}`), " ", h("span", { class: "muted" }, a.name)),
    h("td", { class: a.alpha_note ? "num greyed" : "num", title: a.alpha_note || `${a.faces} faces judged twice or more` }, num(a.alpha, 3),
      a.alpha_note ? h("small", { class: "muted evidence-count" }, a.alpha_note) : null),
    h("td", { class: "num" }, pct(a.prevalence, 1)),
    h("td", { class: "num" }, pct(a.positive_agreement)),
    h("td", { class: "num" }, a.faces.toLocaleString()),
  )));
}

function svgEl(name, attrs, parent) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  parent.appendChild(node);
  return node;
}

// The hovered face: its consensus in the panel, then each live answer, listed and drawn on the plane around it.
async function hover(point, { overlay, sx, sy }) {
  const panel = document.getElementById("va-hover");
  panel.dataset.item = point.item;
  overlay.replaceChildren();
  panel.replaceChildren(h("p", {}, h("strong", {}, `#${point.item}`), " ", chip(point.label)),
    h("p", { class: "small" }, `consensus valence ${signed(point.x)}, arousal ${signed(point.y)}`), h("p", { class: "muted small" }, "Loading answers…"));
  let answers = answersOf.get(point.item);
  if (!answers) {
    try {
      answers = await api(`items/${point.item}/dimension-answers/`);
    } catch (e) {
      panel.lastChild.textContent = e.message;
      return;
    }
    answersOf.set(point.item, answers);
  }
  if (panel.dataset.item !== String(point.item)) return;  // the pointer moved on meanwhile
  for (const a of answers.filter((x) => x.valence !== null && x.arousal !== null)) {
    svgEl("line", { x1: sx(point.x), y1: sy(point.y), x2: sx(a.valence), y2: sy(a.arousal), class: "answer-link" }, overlay);
    svgEl("rect", { x: sx(a.valence) - 4, y: sy(a.arousal) - 4, width: 8, height: 8, class: "answer-mark", fill: labelColor(LABELS, a.label),
      transform: `rotate(45 ${sx(a.valence)} ${sy(a.arousal)})` }, overlay);
  }
  const aus = (a) => Object.entries(a.action_units || {}).filter(([, v]) => v > 0).map(([n]) => `AU${n}`).join(" ");
  panel.lastChild.replaceWith(h("ul", { class: "va-answers" }, answers.map((a) => h("li", { "data-answer": a.id },
    h("span", { class: "who" }, a.annotator__username), chip(a.label),
    h("span", { class: "small" }, ` v ${signed(a.valence)} · a ${signed(a.arousal)}`),
    aus(a) ? h("div", { class: "small muted" }, aus(a)) : null))));
  panel.dataset.ready = "1";
}

async function scatter() {
  const data = await api("dimensions/scatter/");
  const points = data.item.map((item, i) => ({ item, x: data.valence[i], y: data.arousal[i], label: data.label[i] }));
  const n = points.length, of = data.sampled_from;
  document.getElementById("va-sampled").textContent = !n ? "No face has a consensus valence-arousal yet."
    : n < of ? `Sampled ${n.toLocaleString()} of ${of.toLocaleString()} faces (a fixed sample drawn by the run).` : `${n.toLocaleString()} faces.`;
  scatterChart(document.getElementById("va-scatter"), { points, labels: LABELS, title: "Consensus valence and arousal per face", onHover: hover,
    onLeave: ({ overlay }) => overlay.replaceChildren() });
}

// The page's headline beside the class alpha: valence and arousal alpha, or nothing when the project asks none.
export function dimensionHeadline(report) {
  const part = (name, d) => (d && typeof d.alpha === "number" ? ` · ${name} α ${d.alpha.toFixed(3)} (ICC ${num(d.icc, 3)})` : "");
  return part("valence", report.valence) + part("arousal", report.arousal);
}

export async function loadDimensions() {
  if (!document.getElementById("dimensions")) return null;
  const report = await api("dimensions/");
  if (report.asks.valence_arousal) {
    vaTable(report);
    await scatter();
  }
  if (report.asks.action_units) auTables(report);
  const panels = document.getElementById("dimensions");
  panels.classList.remove("hidden");  // shown once filled: before the first run the page says so in its headline
  panels.dataset.ready = "1";
  return report;
}

// Agreement page: annotator- and model-vs-consensus heatmaps, most confused pairs, per-class agreement; valence-arousal
// and action units beside them where the project asks for them (dashboard-dimensions.js).
import { api, config, h, pct, toast } from "./dashboard.js";
import { heatmap, labelColor } from "./charts.js";
import { dimensionHeadline, loadDimensions } from "./dashboard-dimensions.js";

function meter(v, color) {
  return h("span", { class: "meter" }, h("span", { class: "track" }, h("span", { style: `width:${((v ?? 0) * 100).toFixed(1)}%;background:${color}` })), h("em", {}, pct(v)));
}

async function load() {
  let data;
  try {
    data = await api("agreement/");
  } catch (e) {
    document.getElementById("agreement-run").textContent = e.code === "no_quality_run" ? "No quality run has finished yet: start one on the overview page." : e.message;
    return;
  }
  const alpha = data.krippendorff_alpha, kappa = data.fleiss_kappa;
  document.getElementById("agreement-run").textContent = `From quality run #${data.run_number}` +
    (typeof alpha === "number" ? ` · Krippendorff's α ${alpha.toFixed(3)}` : "") + (typeof kappa === "number" ? ` · Fleiss' κ ${kappa.toFixed(3)}` : "");
  const short = data.labels;
  heatmap(document.getElementById("heat-annotators"), { rows: short, cols: short, matrix: data.annotators_vs_consensus, colTitle: "answer", cell: 40, title: "annotators vs consensus" });
  heatmap(document.getElementById("heat-model"), { rows: short, cols: short, matrix: data.model_vs_consensus, colTitle: "model", cell: 40, title: "model vs consensus" });
  const modelPairs = new Map(data.model_confused_pairs.map((p) => [[p.a, p.b].sort().join("|"), p.count]));
  document.querySelector("#pairs tbody").replaceChildren(...data.confused_pairs.map((p) => h("tr", {},
    h("td", {}, h("span", { class: "chip", style: `--chip:${labelColor(data.labels, p.a)}` }, p.a), " vs ", h("span", { class: "chip", style: `--chip:${labelColor(data.labels, p.b)}` }, p.b)),
    h("td", { class: "num" }, p.count.toLocaleString()),
    h("td", { class: "num" }, pct(p.share, 1)),
    h("td", { class: "num" }, (modelPairs.get([p.a, p.b].sort().join("|")) || 0).toLocaleString()),
    h("td", {}, h("a", { href: `/projects/${config.project}/issues/?pair=${encodeURIComponent(`${p.a},${p.b}`)}` }, "Review →")),
  )));
  if (!data.confused_pairs.length) document.querySelector("#pairs tbody").append(h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No confusions.")));
  document.querySelector("#per-class-table tbody").replaceChildren(...data.per_class.map((c) => h("tr", {},
    h("td", {}, h("span", { class: "chip", style: `--chip:${labelColor(data.labels, c.label)}` }, c.label)),
    h("td", { class: "num" }, c.answers.toLocaleString()),
    h("td", {}, meter(c.annotator_agreement, "#3056d3")),
    h("td", { class: "num" }, c.model_items.toLocaleString()),
    h("td", {}, meter(c.model_agreement, "#c77700")),
  )));
  const report = await loadDimensions();
  if (report) document.getElementById("agreement-run").textContent += dimensionHeadline(report);
  document.body.dataset.ready = "1";
}

load().catch((e) => toast(e.message, "bad"));

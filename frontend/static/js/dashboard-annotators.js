// Annotators page: quality table, each annotator's confusion heatmap, pause / exclude / message actions.
import { api, config, h, num, pct, toast } from "./dashboard.js";
import { heatmap } from "./charts.js";

const tbody = document.querySelector("#annotators tbody");
const dialog = document.getElementById("message-dialog");
let people = [], current = null;

function badge(text, kind) { return h("span", { class: `badge ${kind}` }, text); }

function qualityCell(v) {
  const cls = v === null ? "" : v < 0.6 ? "bad" : v < 0.75 ? "warn" : "ok";
  return h("td", { class: `num ${cls}` }, num(v, 3));
}

// A bias under 5 points is within what honest annotators show; above it, name the confusion.
const BIAS_SHOWN = 0.05;
function biasText(p) { return p.bias !== null && p.bias >= BIAS_SHOWN ? `${p.bias_from} → ${p.bias_to} (+${pct(p.bias)})` : null; }

function row(p) {
  return h("tr", { "data-user": p.user_id, class: current === p.user_id ? "selected" : "", onclick: (e) => { if (!e.target.closest("button")) showConfusion(p); } },
    h("td", {}, h("strong", {}, p.username), " ", p.paused ? badge("paused", "warn") : null, p.excluded_from_consensus ? badge("excluded", "bad") : null,
      p.message ? badge("message", "info") : null),
    qualityCell(p.quality),
    h("td", { class: "num" }, pct(p.gold_accuracy), p.gold_answers ? h("small", { class: "muted" }, ` (${p.gold_answers})`) : null),
    h("td", { class: "num" }, pct(p.agreement)),
    h("td", { class: "num" }, num(p.median_seconds, 1)),
    h("td", { class: "num" }, p.answers.toLocaleString()),
    h("td", {}, p.worst_class || h("span", { class: "muted" }, "–")),
    h("td", { class: "bias" }, biasText(p) ? badge(biasText(p), "bad") : h("span", { class: "muted" }, "–")),
    h("td", { class: "row-actions" },
      p.member ? [
        h("button", { type: "button", class: "button small", "data-action": "pause", onclick: () => update(p, { paused: !p.paused }) }, p.paused ? "Resume" : "Pause"),
        h("button", { type: "button", class: "button small", "data-action": "exclude", onclick: () => update(p, { excluded_from_consensus: !p.excluded_from_consensus }) }, p.excluded_from_consensus ? "Include" : "Exclude"),
        h("button", { type: "button", class: "button small", "data-action": "message", onclick: () => message(p) }, "Message"),
        h("a", { class: "button small", href: `/projects/${config.project}/issues/?annotator=${p.user_id}` }, "Items"),
      ] : h("span", { class: "muted small" }, "no longer a member")),
  );
}

function render() { tbody.replaceChildren(...people.map(row)); }

async function update(p, change) {
  try {
    const m = await api(`members/${p.user_id}/`, { method: "PATCH", body: change });
    Object.assign(p, { paused: m.paused, excluded_from_consensus: m.excluded_from_consensus, message: m.message });
    render();
    if ("excluded_from_consensus" in change) toast(m.excluded_from_consensus ? `${p.username}'s answers are left out of the next quality run.` : `${p.username}'s answers count again from the next quality run.`);
  } catch (e) { toast(e.message, "bad"); }
}

function message(p) {
  document.getElementById("message-user").textContent = p.username;
  const form = document.getElementById("message-form");
  form.elements.message.value = p.message || "";
  dialog.onclose = () => { if (dialog.returnValue === "save") update(p, { message: form.elements.message.value }); };
  dialog.showModal();
}

async function showConfusion(p) {
  current = p.user_id;
  render();
  document.getElementById("confusion-title").textContent = `Confusion against consensus: ${p.username}`;
  const data = await api(`annotators/${p.user_id}/confusion/`);
  heatmap(document.getElementById("confusion"), { rows: data.labels, cols: data.labels, matrix: data.matrix, colTitle: "their answer", cell: 42, title: `${p.username} confusion` });
  const facts = [["Quality", num(p.quality, 3)], ["Agreement with consensus", pct(p.agreement)], ["Gold accuracy", `${pct(p.gold_accuracy)} of ${p.gold_answers} gold answers`],
    ["Median time per answer", p.median_seconds === null ? "–" : `${num(p.median_seconds, 1)} s`], ["Answers", `${p.answers.toLocaleString()} (${p.corrections} corrected)`],
    ["Worst class", p.worst_class || "–"],
    ["Systematic bias", biasText(p) ? `answers ${p.bias_to} for ${p.bias_from} faces ${pct(p.bias)} more often than their peers (co-annotators and the model)` : "none found"],
    ["CROWDLAB quality (before bias)", num(p.crowdlab_quality, 3)], ["Status", [p.paused ? "paused" : "active", p.excluded_from_consensus ? "excluded from consensus" : "counted in consensus"].join(", ")]];
  document.getElementById("confusion-facts").replaceChildren(...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
    ...(p.message ? [h("dt", {}, "Message on their page"), h("dd", { class: "message" }, p.message)] : []));
}

async function load() {
  const data = await api("annotators/");
  people = data.results;
  document.getElementById("annotators-run").textContent = data.run ? `Quality from quality run ${data.run}; answers and speed are live. Lowest quality first.` : "No quality run yet: quality figures appear after the first run.";
  render();
  const first = people.find((p) => p.quality !== null);
  if (first) await showConfusion(first);
  document.body.dataset.ready = "1";
}

load().catch((e) => toast(e.message, "bad"));

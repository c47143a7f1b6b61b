// Annotators page: quality with the evidence behind it, gold accuracy, confusion heatmap, pause / exclude / message.
import { api, config, h, num, pct, serverPager, toast } from "./dashboard.js";
import { heatmap } from "./charts.js";
import { evidenceText, goldText, modelText, qualityNote } from "./evidence.js";

const tbody = document.querySelector("#annotators tbody");
const dialog = document.getElementById("message-dialog");
let people = [], current = null, thin = 20;

function badge(text, kind) { return h("span", { class: `badge ${kind}` }, text); }

// A quality figure is coloured only when enough co-annotated faces stand behind it; otherwise it is greyed
// with what is missing, and without any shared face there is no figure at all.
function qualityCell(p) {
  const note = qualityNote(p, thin);
  if (p.quality === null) return h("td", { class: "num quality-none" }, h("span", { class: "muted" }, note.label), h("small", { class: "muted evidence-count" }, note.detail));
  if (note.state !== "enough") {
    return h("td", { class: "num quality-thin", title: note.detail }, h("span", { class: "greyed" }, num(p.quality, 3)), h("small", { class: "muted evidence-count" }, note.label));
  }
  const v = p.quality, cls = v < 0.6 ? "bad" : v < 0.75 ? "warn" : "ok";
  return h("td", { class: `num ${cls}` }, num(v, 3));
}

// A bias under 5 points is within what honest annotators show; above it, name the confusion.
const BIAS_SHOWN = 0.05;
function biasText(p) { return p.bias !== null && p.bias >= BIAS_SHOWN ? `${p.bias_from} → ${p.bias_to} (+${pct(p.bias)})` : null; }

function row(p) {
  return h("tr", { "data-user": p.user_id, class: current === p.user_id ? "selected" : "", onclick: (e) => { if (!e.target.closest("button")) showConfusion(p); } },
    h("td", {}, h("strong", {}, p.username), " ", p.paused ? badge("paused", "warn") : null, p.excluded_from_consensus ? badge("excluded", "bad") : null,
      p.message ? badge("message", "info") : null),
    qualityCell(p),
    h("td", { class: "num evidence", title: evidenceText(p) }, evidenceText(p, { short: true })),
    h("td", { class: "num model-agreement", title: modelText(p) }, modelText(p, { short: true })),
    h("td", { class: "num gold", title: goldText(p) }, p.gold_answers ? goldText(p, { short: true }) : h("span", { class: "muted" }, goldText(p, { short: true }))),
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

function render() {
  tbody.replaceChildren(...(people.length ? people.map(row)
    : [h("tr", {}, h("td", { colspan: 11, class: "muted" }, pager.query ? `No annotator's name contains “${pager.query}”.` : "No annotators yet."))]));
}

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
  const note = qualityNote(p, thin);
  const facts = [["Quality", p.quality === null ? `${note.label}: ${note.detail}` : note.state === "enough" ? num(p.quality, 3) : `${num(p.quality, 3)} (${note.label}: ${note.detail})`],
    ["Evidence", evidenceText(p)], ["Agreement with the model's top class", modelText(p)],
    ["Agreement with consensus (co-annotated faces)", pct(p.agreement)], ["Gold accuracy", goldText(p)],
    ["Median time per answer", p.median_seconds === null ? "–" : `${num(p.median_seconds, 1)} s`], ["Answers", `${p.answers.toLocaleString()} (${p.corrections} corrected)`],
    ["Worst class", p.worst_class || "–"],
    ["Systematic bias", biasText(p) ? `answers ${p.bias_to} for ${p.bias_from} faces ${pct(p.bias)} more often than their peers (co-annotators and the model)` : "none found"],
    ["CROWDLAB quality (before bias)", num(p.crowdlab_quality, 3)], ["Status", [p.paused ? "paused" : "active", p.excluded_from_consensus ? "excluded from consensus" : "counted in consensus"].join(", ")]];
  document.getElementById("confusion-facts").replaceChildren(...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
    ...(p.message ? [h("dt", {}, "Message on their page"), h("dd", { class: "message" }, p.message)] : []));
}

// The table is paged by the server (worst quality first), 100 rows at a time; q narrows it to matching usernames.
async function load(state, { first = false } = {}) {
  const data = await api("annotators/", { params: { offset: state.offset, limit: state.page, ...(state.query ? { q: state.query } : {}) } });
  people = data.results;
  thin = data.thin_evidence_faces;
  document.getElementById("annotators-run").textContent = data.run
    ? `Quality, evidence and gold accuracy from quality run #${data.run_number}; answers and speed are live. Lowest quality first; a quality on fewer than ${thin} co-annotated faces is greyed as thin evidence.`
    : "No quality run yet: quality figures appear after the first run.";
  render();
  state.show(people.length, data.count);
  const worst = first ? people.find((p) => p.quality !== null) : null;
  if (worst) await showConfusion(worst);
  document.body.dataset.ready = "1";
}

const pager = serverPager({ ids: { prev: "annotators-prev", next: "annotators-next", info: "annotators-page-info", search: "annotators-search" },
  page: 100, load });
load(pager, { first: true }).catch((e) => toast(e.message, "bad"));

// Annotators page, #18: per annotator, valence / arousal offset and noise, the AUs they miss, and how often their own
// answers contradict themselves, each with its evidence: red only when the bound says it is real, greyed when it is
// within what honest annotators show, and "not enough evidence" instead of a figure without shared faces.
import { api, h, pct, toast } from "./dashboard.js";

const signed = (v) => `${v >= 0 ? "+" : ""}${v.toFixed(2)}`;
const none = (why) => h("td", { class: "muted" }, "not enough evidence", h("small", { class: "evidence-count" }, why));

function offsetCell(d) {
  if (!d || d.offset_evidence === "none") return none(`${d?.shared ?? 0} shared faces`);
  if (d.offset_evidence === "within_noise") {
    return h("td", { class: "num", title: `${d.shared} shared faces; the bound does not tell this offset apart from 0` },
      h("span", { class: "greyed" }, signed(d.offset)), h("small", { class: "muted evidence-count" }, "within noise"));
  }
  return h("td", { class: "num finding", title: `${d.shared} shared faces; at least ${signed(d.offset_bound)} with high confidence` },
    signed(d.offset), h("small", { class: "muted evidence-count" }, `at least ${signed(d.offset_bound)}, ${d.shared} faces`));
}

function noiseCell(d) {
  if (!d || d.noise_evidence === "none") return none(`${d?.shared ?? 0} shared faces`);
  return h("td", { class: "num", title: "Standard deviation of their own answer noise, the peers' share taken out" },
    d.noise.toFixed(2), h("small", { class: "muted evidence-count" }, `at least ${d.noise_lower === null ? "–" : d.noise_lower.toFixed(2)}`));
}

function auCell(d) {
  if (!d) return h("td", { class: "muted" }, "–");
  if (!d.judged_aus) return none(`no AU with enough faces its peers call present`);
  if (!d.low_sensitivity.length) return h("td", { class: "muted" }, `none low (${d.judged_aus} of ${d.aus} AUs with evidence)`);
  return h("td", { class: "finding" }, d.low_sensitivity.map((a) => h("div", { "data-au": a.au, title: `${a.name}: marked on ${pct(a.sensitivity)} of ${a.positives} faces its peers call present; at most ${pct(a.sensitivity_upper)}` },
    `AU${a.au} ${a.name.toLowerCase()}: ${pct(a.sensitivity)} of ${a.positives}`, h("small", { class: "muted" }, ` (at most ${pct(a.sensitivity_upper)})`))));
}

function selfCell(d) {
  if (!d || d.evidence === "none") return none(`${d?.checkable ?? 0} checkable answers`);
  const text = `${pct(d.share)} of ${d.checkable}`;
  if (d.evidence === "within_noise") return h("td", { class: "num" }, h("span", { class: "greyed" }, text), h("small", { class: "muted evidence-count" }, "within noise"));
  return h("td", { class: "num finding", title: `${d.contradictions} of ${d.checkable} answers contradict their own AUs or valence` },
    text, h("small", { class: "muted evidence-count" }, `at least ${pct(d.share_lower)}`));
}

// Rows with a finding first, then by name.
function findings(r) {
  return ["valence", "arousal"].filter((k) => r[k]?.offset_evidence === "found").length + (r.action_units?.low_sensitivity.length || 0)
    + (r.self_consistency?.evidence === "found" ? 1 : 0);
}

async function load() {
  const data = await api("annotators/dimensions/");
  const va = data.asks.valence_arousal, au = data.asks.action_units;
  const heads = ["Annotator", ...(va ? ["Valence offset", "Valence noise", "Arousal offset", "Arousal noise"] : []),
    ...(au ? [`AUs they miss (sensitivity bound < ${pct(data.low_sensitivity)})`] : []), "Self-contradictions"];
  document.querySelector("#annotator-dimensions thead").replaceChildren(h("tr", {}, heads.map((t) => h("th", {}, t))));
  const rows = Object.entries(data.results).map(([id, r]) => ({ id, ...r }))
    .sort((a, b) => findings(b) - findings(a) || a.username.localeCompare(b.username));
  const body = document.querySelector("#annotator-dimensions tbody");
  body.replaceChildren(...rows.map((r) => h("tr", { "data-user": r.id },
    h("td", {}, h("strong", {}, r.username)),
    ...(va ? [offsetCell(r.valence), noiseCell(r.valence), offsetCell(r.arousal), noiseCell(r.arousal)] : []),
    ...(au ? [auCell(r.action_units)] : []), selfCell(r.self_consistency))));
  if (!rows.length) body.replaceChildren(h("tr", {}, h("td", { colspan: heads.length, class: "empty" }, data.run ? "Nobody was scored by this run." : "No quality run yet.")));
  document.getElementById("annotator-dimensions-card").dataset.ready = "1";
}

load().catch((e) => toast(e.message, "bad"));

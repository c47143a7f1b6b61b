// How an annotator's quality and the evidence behind it read, the same on every page that shows them.
import { pct } from "./dashboard.js";

const n = (v) => Number(v).toLocaleString();

// {state, label, detail} for a row of GET annotators/ (thin: its thin_evidence_faces).
export function qualityNote(p, thin) {
  if (p.evidence === "no_run") return { state: "no_run", label: "no quality run", detail: "no quality run has finished yet" };
  if (p.evidence === "not_scored") return { state: "not_scored", label: "no answers in this run", detail: "answered nothing the run analysed" };
  if (p.evidence === "unrecorded") {
    return { state: "unrecorded", label: "evidence not recorded", detail: "this run predates the evidence counts: run quality again" };
  }
  if (p.quality === null && p.excluded_from_consensus && p.shared_items) {  // CROWDLAB scores only those it counts
    return { state: "excluded", label: "left out of the consensus", detail: `${n(p.shared_items)} of ${n(p.scored_answers)} faces co-annotated` };
  }
  if (p.quality === null) {
    return { state: "none", label: "not enough evidence", detail: `${n(p.shared_items)} of ${n(p.scored_answers)} faces co-annotated` };
  }
  if (p.evidence === "thin") {
    return { state: "thin", label: "thin evidence", detail: `only ${n(p.shared_items)} co-annotated faces (fewer than ${thin})` };
  }
  return { state: "enough", label: "", detail: `${n(p.shared_items)} co-annotated faces` };
}

// short: the table's compact form ("24 of 30"), else a sentence for the facts panel.
export function evidenceText(p, { short = false } = {}) {
  if (p.shared_items === null || p.shared_items === undefined) return short ? `? of ${n(p.scored_answers)}` : `${n(p.scored_answers)} answers (co-annotated faces not recorded)`;
  return short ? `${n(p.shared_items)} of ${n(p.scored_answers)}` : `${n(p.shared_items)} of ${n(p.scored_answers)} faces co-annotated`;
}

export function modelText(p, { short = false } = {}) {
  if (!p.model_items) return "–";
  return short ? `${pct(p.model_agreement)} of ${n(p.model_items)}` : `${pct(p.model_agreement)} of ${n(p.model_items)} faces`;
}

export function goldText(p, { short = false } = {}) {
  if (!p.gold_answers) return "no gold answers";
  return short ? `${pct(p.gold_accuracy)} (${n(p.gold_correct)}/${n(p.gold_answers)})` : `${pct(p.gold_accuracy)}: ${n(p.gold_correct)} of ${n(p.gold_answers)} gold answers right`;
}

// Issue queue: where each face's label comes from (badges, the inspector's provenance), and gold faces marked from it.
import { api, config, h, num, pct, toast } from "./dashboard.js";
import { labelColor, stackedBar } from "./charts.js";

const SOURCE_TEXT = {
  review: "lead review",
  crowd: "crowd",
  reference: "imported reference",
  model: "model only",
  none: "no label",
};

export function chip(labels, label, extra = "") {
  if (!label) return h("span", { class: "muted" }, "–");
  return h("span", { class: `chip ${extra}`, style: `--chip:${labelColor(labels, label)}` }, label.replace("_", " "));
}

const answers = (n) => `${n} answer${n === 1 ? "" : "s"}`;

// What the badge's tooltip and the inspector say about the label's origin, in words a lead can check.
export function sourceSentence(row) {
  switch (row.label_source) {
    case "review": return `Set by ${row.review?.by || "a lead"} (${row.state}); the crowd's consensus of ${answers(row.num_answers)} no longer decides it.`;
    case "crowd": return `The crowd's consensus of the ${answers(row.num_answers)} this quality run counted.`;
    case "reference": return "Imported with the face: nobody has answered it in this quality run.";
    case "model": return "Only the model's prediction: no answers and no imported label.";
    default: return "No label: no answers, no imported label, no prediction.";
  }
}

export function sourceBadge(row) {
  const text = row.label_source === "crowd" ? `crowd · ${row.num_answers}` : SOURCE_TEXT[row.label_source] || row.label_source;
  return h("span", { class: `badge source ${row.label_source}`, "data-source": row.label_source, title: sourceSentence(row) }, text);
}

export function goldBadge(labels, row) {
  if (!row.is_gold) return null;
  return h("span", { class: "badge gold", title: `Gold face: its known answer is ${row.gold_label}` }, "gold ", row.gold_label.replace("_", " "));
}

function voteText(votes) {
  return Object.entries(votes).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).map(([l, n]) => `${l.replace("_", " ")} ${n}`).join(" · ");
}

// The reference column: the imported label, whether the crowd agrees with it, and any imported votes as a small bar.
export function referenceCell(labels, row) {
  if (!row.reference_label && !Object.keys(row.reference_votes).length) return h("span", { class: "muted" }, "–");
  const mark = row.reference_agrees === null ? null
    : h("span", { class: `agree ${row.reference_agrees ? "yes" : "no"}`, title: row.reference_agrees ? "The crowd's consensus agrees" : "The crowd's consensus differs" },
      row.reference_agrees ? "=" : "≠");
  const bar = Object.keys(row.reference_votes).length
    ? h("div", { class: "ref-votes", title: `Imported votes: ${voteText(row.reference_votes)}` }, stackedBar(row.reference_votes, labels, { width: 72, height: 6 }))
    : null;
  // Nobody answered: the run scored the imported label itself (Cleanlab's label quality against the model).
  const score = !row.num_answers && row.reference_label && row.consensus_quality !== null
    ? h("div", { class: "small muted", title: "Cleanlab's quality score of the imported label, against the model" }, `score ${num(row.consensus_quality, 3)}`)
    : null;
  return [row.reference_label ? chip(labels, row.reference_label) : h("span", { class: "muted small" }, "votes only"), mark, bar, score];
}

function factRow(name, ...value) {
  return h("div", { class: "fact" }, h("span", { class: "muted" }, name), h("span", {}, ...value));
}

// The inspector's "where the label comes from" section: current label and source, then each input beside it.
export function provenance(labels, row) {
  const crowd = Object.keys(row.votes).length
    ? [stackedBar(row.votes, labels, { width: 110, height: 8 }), h("div", { class: "small muted" }, voteText(row.votes))]
    : [h("span", { class: "muted small" }, "no answers")];
  const refVotes = Object.keys(row.reference_votes).length
    ? factRow("Imported votes", stackedBar(row.reference_votes, labels, { width: 110, height: 8 }), h("div", { class: "small muted" }, voteText(row.reference_votes)))
    : null;
  const since = row.answers_now !== row.num_answers
    ? h("p", { class: "small warn-text" }, `${answers(row.answers_now)} now; this run counted ${row.num_answers}. Run quality again to count them.`)
    : null;
  return h("section", { class: "provenance", "aria-label": "Where the label comes from" },
    h("div", { class: "current" }, chip(labels, row.current_label, "final"), sourceBadge(row), goldBadge(labels, row)),
    h("p", { class: "small muted" }, sourceSentence(row)),
    since,
    factRow("Crowd", ...crowd),
    factRow("Consensus", chip(labels, row.num_answers ? row.consensus_label : ""), row.num_answers ? h("small", { class: "muted" }, ` quality ${num(row.consensus_quality, 2)}`) : null),
    factRow("Reference", row.reference_label ? chip(labels, row.reference_label) : h("span", { class: "muted" }, "none imported"),
      row.reference_agrees === null ? null : h("small", { class: "muted" }, row.reference_agrees ? " crowd agrees" : " crowd differs"),
      !row.num_answers && row.reference_label && row.consensus_quality !== null ? h("small", { class: "muted" }, ` score ${num(row.consensus_quality, 2)}`) : null),
    refVotes,
    factRow("Model", chip(labels, row.model_label), row.model_confidence === null ? null : h("small", { class: "muted" }, ` ${pct(row.model_confidence)}`)),
  );
}

// Gold: the class to mark it with (its current label by default), mark / change / remove. onChange(row) after a change.
export function goldPanel(labels, row, onChange) {
  const select = h("select", { name: "gold_label", "aria-label": "Gold label" },
    labels.map((l) => h("option", { value: l }, l.replace("_", " "))));
  select.value = row.is_gold ? row.gold_label : (labels.includes(row.current_label) ? row.current_label : labels[0]);
  const status = h("p", { class: "small muted", "aria-live": "polite" },
    row.is_gold ? `Gold with ${row.gold_label}: served to annotators as a check and scored against this label.`
      : "Not gold. Gold faces are mixed into annotators' queues to measure them.");
  const mark = h("button", { type: "button", class: "button small-button", "data-action": "gold-set" }, row.is_gold ? "Change gold label" : "Mark as gold");
  const remove = row.is_gold ? h("button", { type: "button", class: "button small-button", "data-action": "gold-remove" }, "Remove gold") : null;
  async function send(method, body) {
    mark.disabled = true;
    if (remove) remove.disabled = true;
    try {
      const r = await api(`items/${row.item}/gold/`, { method, body });
      Object.assign(row, { is_gold: r.is_gold, gold_label: r.gold_label });
      toast(r.is_gold ? `Face #${row.item} is gold: ${r.gold_label}` : `Face #${row.item} is no longer gold`, "ok");
      onChange(row);
    } catch (e) {
      toast(e.message, "bad");
      mark.disabled = false;
      if (remove) remove.disabled = false;
    }
  }
  mark.addEventListener("click", () => {
    if (row.is_gold && select.value === row.gold_label) { toast(`Already gold with ${row.gold_label}`); return; }
    send("PUT", { label: select.value });
  });
  remove?.addEventListener("click", () => send("DELETE", null));
  const evaluation = config.gold_evaluates_models
    ? h("p", { class: "small warn-text" }, "Gold faces are also this project's evaluation set: a change here changes the faces model versions are scored on next; scores already taken stay.")
    : null;
  return h("section", { class: "gold-panel", "aria-label": "Gold" },
    h("h3", {}, "Gold"), status, evaluation, h("div", { class: "gold-actions" }, select, mark, remove));
}

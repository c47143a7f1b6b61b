// Issue rows, #18: the face's valence-arousal and action-unit consensus and the dimension checks it failed, with reasons.
import { h } from "./dashboard.js";

const signed = (v) => `${v >= 0 ? "+" : ""}${v.toFixed(2)}`;

// An AU counts as present in the consensus at a probability of one half or more.
export function dimensionLines(row) {
  const lines = [];
  if (row.valence !== null && row.valence !== undefined) {
    const spread = row.valence_spread === null ? "" : ` (spread ${row.valence_spread.toFixed(2)} / ${row.arousal_spread?.toFixed(2) ?? "–"})`;
    lines.push(h("span", { class: "va", title: "consensus valence / arousal, and how far the answers lie from their mean" },
      `v ${signed(row.valence)} · a ${row.arousal === null ? "–" : signed(row.arousal)}${spread}`));
  }
  if (row.action_units) {
    const present = Object.entries(row.action_units).filter(([, p]) => p !== null && p >= 0.5).map(([n]) => `AU${n}`);
    lines.push(h("span", { class: "au-present", title: "action units the consensus calls present" }, present.length ? ` ${present.join(" ")}` : " no AU present"));
  }
  for (const reason of row.check_reasons || []) lines.push(h("span", { class: "check-reason" }, reason));
  return lines.length ? h("div", { class: "dimension-lines", "data-checks": (row.checks || []).join(" ") }, lines) : null;
}

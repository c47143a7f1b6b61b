// Versions page: the freeze form with a live preview of what the policy keeps, and the project's versions.
import { api, config, h, toast } from "./dashboard.js";

const form = document.getElementById("freeze-form");
const preview = document.getElementById("preview");
const EXTRA = ["unknown", "not_a_face"];
let pending = null, seq = 0;

function checks(container, name, values, checked) {
  container.replaceChildren(...values.map((v) =>
    h("label", { class: "check inline" }, h("input", { type: "checkbox", name, value: v, checked: checked.includes(v) }), ` ${v}`)));
}
checks(document.getElementById("exclude-labels"), "exclude_labels", config.labels, EXTRA.filter((l) => config.labels.includes(l)));
checks(document.getElementById("exclude-flags"), "exclude_flags", config.flags, []);
if (!config.flags.length) document.getElementById("exclude-flags").append(h("span", { class: "muted" }, "the project has no flags"));

function policyOf(f) {
  const data = new FormData(f);
  const policy = {
    min_answers: Number(data.get("min_answers") || 0),
    min_consensus_quality: Number(data.get("min_consensus_quality") || 0),
    exclude_unreviewed_issues: data.has("exclude_unreviewed_issues"),
    exclude_lead_excluded: data.has("exclude_lead_excluded"),
    use_reference: data.has("use_reference"),
    exclude_labels: data.getAll("exclude_labels"),
    exclude_flags: data.getAll("exclude_flags"),
    split: data.get("split"),
  };
  if (policy.split === "stratified") {
    policy.split_seed = Number(data.get("split_seed") || 0);
    policy.split_fractions = ["f_train", "f_validation", "f_test"].map((k) => Number(data.get(k) || 0));
  }
  return policy;
}

function splitTable(perSplit) {
  const splits = Object.keys(perSplit);
  const labels = config.labels.filter((l) => splits.some((s) => perSplit[s][l]));
  const total = (s) => Object.values(perSplit[s]).reduce((a, b) => a + b, 0);
  return h("table", { class: "split-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "class"), ...splits.map((s) => h("th", { class: "num" }, s)))),
    h("tbody", {}, ...labels.map((l) => h("tr", {}, h("td", {}, l), ...splits.map((s) => h("td", { class: "num" }, (perSplit[s][l] || 0).toLocaleString())))),
      h("tr", { class: "total" }, h("td", {}, "all"), ...splits.map((s) => h("td", { class: "num" }, total(s).toLocaleString())))));
}

function renderPreview(p) {
  const leftOut = Object.entries(p.left_out).sort((a, b) => b[1] - a[1]);
  const ref = p.differs_from_reference, prev = p.differs_from_previous;
  preview.replaceChildren(...[
    p.same_as_version ? h("p", { class: "warn" }, `Nothing changed since version ${p.same_as_version}: freezing now returns that version.`) : null,
    h("p", { class: "preview-total" }, h("strong", { id: "preview-faces" }, p.faces.toLocaleString()), " faces pass",
      h("span", { class: "muted" }, ` · ${p.left_out_total.toLocaleString()} left out`)),
    p.faces ? splitTable(p.per_split) : h("p", { class: "bad" }, "This policy leaves no face: loosen it to freeze a version."),
    leftOut.length ? h("div", {}, h("h3", {}, "Left out"), h("ul", { class: "plain" }, ...leftOut.map(([why, n]) => h("li", {}, `${n.toLocaleString()} · ${why}`)))) : null,
    h("h3", {}, "Compared"),
    h("ul", { class: "plain" },
      h("li", {}, prev ? `${prev.label_changed.toLocaleString()} final labels differ from version ${prev.number} (${prev.added} faces added, ${prev.removed} removed)` : "No earlier version."),
      h("li", {}, ref.compared ? `${ref.differ.toLocaleString()} of ${ref.compared.toLocaleString()} faces (${((ref.differ / ref.compared) * 100).toFixed(1)} %) differ from their imported reference label` : "No imported reference labels to compare with."),
      h("li", {}, `${p.near_duplicate_groups_moved} near-duplicate groups moved so that none straddles two splits (${p.near_duplicate_faces_moved} faces)`),
      h("li", {}, p.quality_run ? `From quality run #${p.quality_run_number}; labels from ${Object.entries(p.label_sources).map(([k, n]) => `${k} ${n}`).join(", ")}` : "No quality run: reference labels only")),
    h("p", { class: "muted small" }, `Content hash ${p.sha256.slice(0, 16)}…`)].filter(Boolean));
  document.getElementById("freeze-button").disabled = !p.faces;
  document.body.dataset.preview = String(p.faces);
}

async function refreshPreview() {
  const mine = ++seq;
  try {
    const p = await api("versions/preview/", { method: "POST", body: { policy: policyOf(form) } });
    if (mine === seq) renderPreview(p);
  } catch (e) {
    if (mine !== seq) return;
    const details = e.body?.error?.details;
    preview.replaceChildren(h("p", { class: "bad" }, e.message), details ? h("pre", { class: "small" }, JSON.stringify(details, null, 1)) : null);
    document.getElementById("freeze-button").disabled = true;
  }
}

function schedule() {
  clearTimeout(pending);
  pending = setTimeout(refreshPreview, 250);
}

function policySummary(policy) {
  const parts = [`≥ ${policy.min_answers} answers`];
  if (policy.min_consensus_quality) parts.push(`quality ≥ ${policy.min_consensus_quality}`);
  if (policy.exclude_unreviewed_issues) parts.push("no unreviewed issues");
  if (policy.exclude_labels?.length) parts.push(`without ${policy.exclude_labels.join(", ")}`);
  if (policy.exclude_flags?.length) parts.push(`without flagged ${policy.exclude_flags.join(", ")}`);
  if (policy.use_reference) parts.push("references for unanswered");
  parts.push(policy.split === "stratified" ? `stratified split (seed ${policy.split_seed})` : "imported splits");
  return parts.join(" · ");
}

async function loadVersions() {
  const versions = await api("versions/");
  const body = document.querySelector("#versions-table tbody");
  body.replaceChildren(...versions.map((v, i) => h("tr", { "data-version": v.id },
    h("td", {}, h("a", { href: `${v.id}/` }, h("strong", {}, `v${v.number}`), ` ${v.name && v.name !== `v${v.number}` ? v.name : ""}`),
      h("div", { class: "muted small" }, new Date(v.created_at).toLocaleString())),
    h("td", { class: "num" }, v.item_count.toLocaleString()),
    h("td", {}, h("code", { title: v.sha256 }, v.sha256.slice(0, 12))),
    h("td", { class: "small" }, policySummary(v.policy)),
    h("td", {}, v.created_by || "–"),
    h("td", {}, i < versions.length - 1 ? h("a", { href: `${v.id}/diff/` }, `diff vs v${versions[i + 1].number}`) : ""))));
  if (!versions.length) body.append(h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No version yet: the form above freezes the first.")));
}

form.addEventListener("input", (e) => {
  if (e.target.name === "split") document.getElementById("stratified-options").hidden = form.split.value !== "stratified";
  if (e.target.name !== "name") schedule();
});
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const button = document.getElementById("freeze-button");
  button.disabled = true;
  try {
    const version = await api("versions/", { method: "POST", body: { name: form.name.value, policy: policyOf(form) } });
    toast(`Version ${version.number} frozen: ${version.item_count.toLocaleString()} faces.`, "ok");
    window.location.href = `${version.id}/`;
  } catch (err) {
    toast(err.message, "bad");
    button.disabled = false;
  }
});

Promise.all([refreshPreview(), loadVersions()]).finally(() => { document.body.dataset.ready = "1"; });

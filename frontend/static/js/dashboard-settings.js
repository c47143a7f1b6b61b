// Settings tab: edit the project's settings; every edit is previewed by the API (what it does to work already
// done, the same rules the save enforces) before Save is offered, and saving goes through PATCH.
import { api, config, h, toast } from "./dashboard.js";
import { errorText, projectForm } from "./project-form.js";

const FIELD_NAMES = {
  name: "Name", description: "Description", instructions: "Instructions", labels: "Labels", flags: "Flags",
  overlap_target: "k (answers per face)", gold_rate: "Gold checks", show_model_hints: "Model hints",
  valence_arousal: "Valence-arousal", action_units: "Action units", au_intensity: "AU intensity",
};
const TEXT = new Set(["description", "instructions"]);

const form = document.getElementById("project-form");
const save = document.getElementById("pf-submit");
const reset = document.getElementById("pf-reset");
const body = document.getElementById("impact-body");
const pf = projectForm(form, config);
let saved = config.values;
let seq = 0;
let timer = null;
pf.fill(saved);

function shown(field, value) {
  if (field === "gold_rate") return `${Math.round(value * 1000) / 10}%`;
  if (typeof value === "boolean") return value ? "on" : "off";
  if (Array.isArray(value)) return value.length ? value.join(", ") : "none";
  return value === "" ? "empty" : String(value);
}

function listChange(before, after) {
  const added = after.filter((x) => !before.includes(x));
  const removed = before.filter((x) => !after.includes(x));
  const parts = [added.length ? `added ${added.join(", ")}` : "", removed.length ? `removed ${removed.join(", ")}` : ""].filter(Boolean);
  return parts.length ? parts.join("; ") : "same names, new order";
}

function changeItem(field, { before, after }) {
  if (field === "action_units") [before, after] = [before.map((n) => `AU${n}`), after.map((n) => `AU${n}`)];
  const what = TEXT.has(field) ? (after ? "changed" : "cleared")
    : Array.isArray(after) ? listChange(before, after) : `${shown(field, before)} → ${shown(field, after)}`;
  return h("li", {}, h("strong", {}, `${FIELD_NAMES[field] || field}: `), what);
}

function render(preview) {
  const changes = Object.entries(preview.changes);
  save.disabled = !changes.length || preview.blocked;
  reset.disabled = !changes.length;
  if (!changes.length) {
    body.replaceChildren(h("p", { class: "muted" }, "No changes: the form shows the saved settings."));
    return;
  }
  const effects = preview.effects.map((e) => h("li", { class: `effect ${e.level}`, "data-field": e.field },
    h("span", { class: `badge ${e.level === "blocked" ? "bad" : e.level === "warn" ? "warn" : "info"}` },
      e.level === "blocked" ? "refused" : e.level === "warn" ? "affects done work" : "note"), " ", e.message));
  body.replaceChildren(...[
    h("h3", {}, "Changes"), h("ul", { class: "changes" }, changes.map(([f, c]) => changeItem(f, c))),
    effects.length ? h("h3", {}, "Effects") : null, effects.length ? h("ul", { class: "effects" }, effects) : null,
    preview.blocked ? h("p", { class: "error" }, "Saving is refused until the change marked refused is undone: nothing has been changed.") : null,
  ].filter(Boolean));
}

async function preview() {
  const mine = ++seq;
  pf.clearError();
  let values;
  try {
    values = pf.read();
  } catch (err) {
    save.disabled = true;
    body.replaceChildren(h("p", { class: "error" }, err.message));
    return;
  }
  try {
    const result = await api("settings/preview", { method: "POST", body: values });
    if (mine === seq) render(result);
  } catch (err) {
    if (mine !== seq) return;
    save.disabled = true;
    reset.disabled = false;
    body.replaceChildren(h("p", { class: "error" }, errorText(err)));
  }
}

function later() {
  clearTimeout(timer);
  save.disabled = true;
  timer = setTimeout(preview, 250);
}
form.addEventListener("input", later);
form.addEventListener("change", later);

reset.addEventListener("click", () => { pf.fill(saved); preview(); });

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (save.disabled) return;
  save.disabled = true;
  save.textContent = "Saving…";
  try {
    const project = await api("", { method: "PATCH", body: pf.read() });
    saved = Object.fromEntries(Object.keys(saved).map((k) => [k, project[k]]));
    pf.fill(saved);
    const crumbs = document.querySelector(".crumbs");
    if (crumbs) crumbs.textContent = `${project.name} · k = ${project.overlap_target}`;
    toast("Settings saved; the change is in the audit log.", "ok");
    await preview();
  } catch (err) {
    pf.showError(errorText(err));
  } finally {
    save.textContent = "Save changes";
  }
});

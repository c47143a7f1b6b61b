// A version page's training form: defaults and limits from the API, fine-tune defaults when the start changes, errors beside it.
import { api, config, h } from "./dashboard.js";

const form = document.getElementById("train-form");
const errorBox = document.getElementById("train-error");
const button = document.getElementById("train-button");
const NUMBERS = ["epochs", "lr", "batch_size", "seed", "weight_decay", "label_smoothing", "dropout"];
const INTEGERS = new Set(["epochs", "batch_size", "seed"]);
let options = null;

function fill(values) {
  for (const [name, value] of Object.entries(values)) {
    const field = form.elements[name];
    if (!field || value === undefined || value === null) continue;
    if (field instanceof RadioNodeList) field.value = value;
    else if (field.type === "checkbox") field.checked = Boolean(value);
    else field.value = value;
  }
}

// The API names a bad option in details.option (the service's checks) or maps fields to messages (the serializer's).
function showError(message, details) {
  const mark = (name) => form.elements[name]?.setAttribute?.("aria-invalid", "true");
  let lines = [];
  if (details?.option) mark(details.option);
  else if (details && typeof details === "object" && !Array.isArray(details)) {
    lines = Object.entries(details).filter(([, why]) => Array.isArray(why)).map(([field, why]) => {
      mark(field);
      return h("li", {}, h("strong", {}, field.replace(/_/g, " ")), `: ${why.join(" ")}`);
    });
  }
  errorBox.replaceChildren(h("p", { class: "bad" }, message), ...(lines.length ? [h("ul", { class: "plain small" }, ...lines)] : []));
}

function body() {
  const out = { dataset_version: config.version, targets: form.elements.targets.value, start: form.elements.start.value,
    device: form.elements.device.value, augment: form.elements.augment.checked };
  for (const name of NUMBERS) {
    const raw = form.elements[name].value;
    if (raw !== "") out[name] = INTEGERS.has(name) ? parseInt(raw, 10) : Number(raw);
  }
  return out;
}

async function init() {
  try {
    options = await api("trainings/options/");
  } catch (e) {
    showError(`Training options could not be read: ${e.message}`);
    return;
  }
  const { defaults, limits = {}, choices = {} } = options;
  form.elements.device.replaceChildren(...(choices.device || ["auto"]).map((d) => h("option", { value: d }, d)));
  for (const [name, [lo, hi]] of Object.entries(limits)) {
    const field = form.elements[name];
    if (field && field.type === "number") { field.min = lo; field.max = hi; field.title = `${lo} to ${hi}`; }
  }
  for (const name of ["targets", "start"]) {
    const allowed = choices[name];
    if (allowed) form.querySelectorAll(`input[name=${name}]`).forEach((r) => { r.closest("label").hidden = !allowed.includes(r.value); });
  }
  fill(defaults);
  if (defaults.start === "finetune") fill(options.finetune_defaults || {});
  button.disabled = false;
}

form.addEventListener("change", (e) => {
  if (e.target.name === "start" && options) {
    // Fine-tuning wants a few epochs at a small rate; going back to scratch restores the scratch defaults.
    const keys = Object.keys(options.finetune_defaults || {});
    const source = e.target.value === "finetune" ? options.finetune_defaults : options.defaults;
    fill(Object.fromEntries(keys.map((k) => [k, source[k]])));
  }
});

form.addEventListener("input", (e) => {  // the lead is fixing the field the API refused: the refusal no longer applies
  if (e.target.getAttribute?.("aria-invalid")) { e.target.removeAttribute("aria-invalid"); errorBox.replaceChildren(); }
});

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  errorBox.replaceChildren();
  form.querySelectorAll("[aria-invalid]").forEach((f) => f.removeAttribute("aria-invalid"));
  button.disabled = true;
  const label = button.textContent;
  button.textContent = "Starting…";
  try {
    const job = await api("trainings/", { method: "POST", body: body() });
    window.location.href = `/projects/${config.project}/models/?job=${job.id}`;
  } catch (err) {
    showError(err.body?.detail || err.message, err.body?.error?.details);
    button.disabled = false;
    button.textContent = label;
  }
});

init().finally(() => { document.body.dataset.trainReady = "1"; });

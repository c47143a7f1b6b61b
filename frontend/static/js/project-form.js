// The project settings form, shared by "New project" and the Settings tab: label presets, a custom list or none,
// flags, k, gold rate (shown in percent), the two switches, valence-arousal and the action units (a preset or
// any subset of the catalogue the server passes, with or without intensity). fill(values) shows a project's settings, read()
// returns what the API takes, or throws an Error whose message says what to fix.
import { h } from "./dashboard.js";

const KEYS = "1234567890";
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const names = (text, sep) => text.split(sep).map((s) => s.trim()).filter(Boolean);

export function errorText(err) {
  const details = err.body?.error?.details;
  if (details && typeof details === "object" && !Array.isArray(details)) {
    const parts = Object.entries(details).map(([field, msgs]) => `${field.replace(/_/g, " ")}: ${[].concat(msgs).map((m) => (typeof m === "object" ? JSON.stringify(m) : m)).join(" ")}`);
    if (parts.length && err.code === "invalid") return parts.join("; ");
  }
  return err.message;
}

export function projectForm(form, cfg) {
  const f = form.elements;  // by name: a control called "name" would shadow form.name
  const presets = cfg.presets;
  const extras = cfg.extras;
  const presetBox = form.querySelector("#pf-presets");
  for (const p of presets) {
    presetBox.append(h("label", { class: "check preset" }, h("input", { type: "radio", name: "preset", value: p.id }),
      h("strong", {}, p.title), h("span", { class: "muted small" }, ` ${p.note}`)));
  }
  presetBox.append(h("label", { class: "check preset" }, h("input", { type: "radio", name: "preset", value: "custom" }),
    h("strong", {}, "Custom list"), h("span", { class: "muted small" }, " your own labels, at least two expression classes")));
  presetBox.append(h("label", { class: "check preset" }, h("input", { type: "radio", name: "preset", value: "none" }),
    h("strong", {}, "No expression class"), h("span", { class: "muted small" }, " valence-arousal and/or action units only (e.g. DISFA-style AU coding)")));
  form.querySelector("#pf-extras-names").textContent = extras.map((x) => `“${x.replace(/_/g, " ")}”`).join(" and ");
  form.querySelector("#pf-ranges").textContent = `k from 1 to ${cfg.maxK}; gold checks from 0% to ${cfg.maxGoldRate * 100}% (faces with a known answer, mixed in to measure annotators, on top of k).`;
  f.overlap_target.max = cfg.maxK;
  f.gold_rate.max = cfg.maxGoldRate * 100;
  const custom = form.querySelector("#pf-custom");
  const chips = form.querySelector("#pf-label-chips");
  const error = form.querySelector("#pf-error");
  const auBox = form.querySelector("#pf-aus");
  for (const au of cfg.actionUnits) {
    auBox.append(h("label", { class: "check", title: au.description }, h("input", { type: "checkbox", name: "au", value: String(au.number) }),
      h("span", {}, h("strong", {}, `AU${au.number}`), ` ${au.name}`, h("span", { class: "au-desc" }, au.description))));
  }
  const auPresets = form.querySelector("#pf-au-presets");
  const setAus = (numbers) => {
    for (const box of form.querySelectorAll("input[name=au]")) box.checked = numbers.includes(Number(box.value));
    form.dispatchEvent(new Event("change"));
  };
  for (const p of cfg.auPresets) {
    auPresets.append(h("button", { type: "button", class: "button", "data-au-preset": p.id, title: p.numbers.map((n) => `AU${n}`).join(", "),
      onclick: () => setAus(p.numbers) }, p.title));
  }
  auPresets.append(h("button", { type: "button", class: "button", "data-au-preset": "none", onclick: () => setAus([]) }, "None"));
  const aus = () => [...form.querySelectorAll("input[name=au]:checked")].map((box) => Number(box.value));
  const showAus = () => {
    f.au_intensity.disabled = !aus().length;
    if (!aus().length) f.au_intensity.checked = false;
  };

  const choice = () => form.querySelector("input[name=preset]:checked")?.value || "custom";

  function labels() {
    if (choice() === "none") return [];
    if (choice() === "custom") return names(f.custom_labels.value, /[\n,]/);
    const base = presets.find((p) => p.id === choice()).labels;
    return f.extras.checked ? [...base, ...extras.filter((x) => !base.includes(x))] : [...base];
  }

  function showLabels() {
    const isCustom = choice() === "custom";
    custom.hidden = !isCustom;
    f.extras.closest("label").hidden = isCustom || choice() === "none";
    const list = labels();
    if (choice() === "none") {
      chips.replaceChildren(h("span", {}, h("kbd", {}, "Enter"), " submits the valence-arousal / action-unit answer"));
      return;
    }
    chips.replaceChildren(...(list.length ? list.map((name, i) => h("span", { class: "pf-chip" }, i < KEYS.length ? h("kbd", {}, KEYS[i]) : null, ` ${name.replace(/_/g, " ")}`))
      : [h("span", { class: "error" }, "no labels yet")]));
  }

  function fill(values) {
    f.name.value = values.name;
    f.description.value = values.description;
    f.instructions.value = values.instructions;
    const preset = presets.find((p) => same(values.labels, p.labels) || same(values.labels, [...p.labels, ...extras.filter((x) => !p.labels.includes(x))]));
    const picked = !values.labels.length ? "none" : preset ? preset.id : "custom";
    for (const radio of form.querySelectorAll("input[name=preset]")) radio.checked = radio.value === picked;
    f.extras.checked = preset ? !same(values.labels, preset.labels) : true;
    f.custom_labels.value = values.labels.join("\n");
    f.flags.value = values.flags.join(", ");
    f.overlap_target.value = values.overlap_target;
    f.gold_rate.value = Math.round(values.gold_rate * 1000) / 10;
    f.show_model_hints.checked = values.show_model_hints;
    f.valence_arousal.checked = values.valence_arousal;
    for (const box of form.querySelectorAll("input[name=au]")) box.checked = values.action_units.includes(Number(box.value));
    f.au_intensity.checked = values.au_intensity;
    showLabels();
    showAus();
  }

  function read() {
    const k = Number(f.overlap_target.value);
    const gold = Number(f.gold_rate.value);
    if (f.overlap_target.value.trim() === "" || !Number.isInteger(k)) throw new Error("Give k (answers per face) as a whole number.");
    if (f.gold_rate.value.trim() === "" || !Number.isFinite(gold)) throw new Error("Give the gold checks as a percentage, e.g. 5.");
    return {
      name: f.name.value.trim(),
      description: f.description.value,
      instructions: f.instructions.value,
      labels: labels(),
      flags: names(f.flags.value, ","),
      overlap_target: k,
      gold_rate: Math.round(gold * 10) / 1000,
      show_model_hints: f.show_model_hints.checked,
      valence_arousal: f.valence_arousal.checked,
      action_units: aus(),
      au_intensity: f.au_intensity.checked && aus().length > 0,
    };
  }

  // An edit makes an earlier error stale: it goes, and the next submit or preview says what is still wrong.
  const edited = () => { error.hidden = true; showLabels(); showAus(); };
  form.addEventListener("change", edited);
  form.addEventListener("input", edited);
  return {
    fill, read,
    showError(message) { error.textContent = message; error.hidden = false; },
    clearError() { error.textContent = ""; error.hidden = true; },
  };
}

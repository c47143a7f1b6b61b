// The Models tab: the evaluation set, live trainings with their curves, every model version, promotions and roll back.
import { api, config, followJob, h, num, pct, toast } from "./dashboard.js";
import { lineChart, sparkline } from "./charts.js";

const LIVE = new Set(["queued", "running"]);
const POLL_LIVE = 2000, POLL_IDLE = 15000;
const picked = new Set();
const panels = new Map(); // training job id -> its last JobOutput, kept after it finishes so its curves stay on screen
const versionNumbers = new Map(); // dataset version id -> number, for the training panels' titles
let registry = null, timer = null, evaluating = null;

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, seconds);
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

const setName = (set) => (set.kind === "gold" ? "Gold items" : `${set.split} split`);
const errorText = (e) => e.body?.detail || e.message;

// ---- evaluation set

function renderEvaluation(data) {
  const set = data.evaluation_set || {};
  const select = document.getElementById("eval-choice");
  const key = (c) => (c.kind === "gold" ? "gold" : `split:${c.split}`);
  const current = set.kind ? key(set) : "";
  const focused = document.activeElement === select;
  if (!focused) {
    select.replaceChildren(...(set.choices || []).map((c) => h("option", { value: key(c) },
      `${setName(c)} · ${c.items.toLocaleString()} faces${key(c) === current ? " (current)" : ""}`)));
    if (current) select.value = current;
  }
  document.getElementById("eval-use").disabled = !(set.choices || []).length;
  const stale = data.results.filter((m) => m.evaluation_state === "stale").length;
  const note = document.getElementById("eval-current");
  if (!set.kind) {
    note.replaceChildren(h("span", { class: "warn" }, "No evaluation set yet: pick one and every version is scored on it."));
  } else {
    const size = set.items ?? (set.choices || []).find((c) => key(c) === current)?.items ?? 0;  // not taken yet: the choice's size
    note.replaceChildren(h("span", {}, h("strong", {}, `Current: ${setName(set)}`), ` · ${size.toLocaleString()} faces`,
      set.sha256 ? h("span", { class: "muted" }, " · set hash ", h("code", { title: set.sha256 }, set.sha256.slice(0, 12))) : null,
      stale ? h("span", { class: "warn" }, ` · ${stale} version${stale > 1 ? "s" : ""} not scored on the set as it is now`) : null));
  }
  document.getElementById("score-all").hidden = !stale || Boolean(data.evaluating);
  if (data.evaluating && evaluating !== data.evaluating) followEvaluation(data.evaluating);
}

async function followEvaluation(jobId) {
  evaluating = jobId;
  const box = document.getElementById("eval-progress");
  box.hidden = false;
  const draw = (job) => {
    const share = job.status === "succeeded" ? 1 : job.progress_total ? job.progress_done / job.progress_total : 0;
    box.replaceChildren(
      h("div", { class: "progress", role: "progressbar", "aria-label": "Scoring model versions", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": Math.round(share * 100) },
        h("span", { style: `width:${(share * 100).toFixed(1)}%` })),
      h("span", { class: "muted small" }, `Scoring versions: ${job.stage || job.status}${job.progress_total ? ` · ${job.progress_done} / ${job.progress_total}` : ""}`));
  };
  try {
    const job = await followJob(jobId, draw, { interval: 1000 });
    if (job.status === "failed") toast(`Scoring failed: ${job.error}`, "bad");
  } catch (e) {
    toast(errorText(e), "bad");
  }
  box.hidden = true;
  evaluating = null;
  refresh();
}

document.getElementById("eval-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const value = document.getElementById("eval-choice").value;
  const body = value === "gold" ? { kind: "gold" } : { kind: "split", split: value.slice("split:".length) };
  try {
    const out = await api("models/evaluation-set/", { method: "POST", body });
    toast(`Evaluation set: ${setName(out.evaluation_set)}.`, "ok");
    if (out.job) followEvaluation(out.job.id);
  } catch (err) {
    toast(errorText(err), "bad");
  }
  refresh();
});

document.getElementById("score-all").addEventListener("click", async (e) => {
  e.target.disabled = true;
  try {
    const job = await api("models/evaluate/", { method: "POST" });
    followEvaluation(job.id);
  } catch (err) {
    toast(errorText(err), "bad");
  }
  e.target.disabled = false;
});

// ---- trainings

function curveCharts(panel, curves, epochs) {
  const x = (c) => c.epoch;
  const xFormat = (v) => String(Math.round(v));
  const loss = panel.querySelector(".chart-loss"), acc = panel.querySelector(".chart-acc");
  loss.dataset.points = acc.dataset.points = String(curves.length);
  if (!curves.length) {
    for (const box of [loss, acc]) box.replaceChildren(h("p", { class: "empty" }, "Waiting for the first epoch…"));
    return;
  }
  const top = Math.max(...curves.flatMap((c) => [c.loss, c.val_loss]).filter((v) => v !== null && v !== undefined));
  lineChart(loss, { yMax: top > 0 ? top * 1.2 : null, series: [
    { name: "train loss", color: "#3056d3", points: curves.map((c) => ({ x: x(c), y: c.loss })) },
    { name: "validation loss", color: "#c2771f", points: curves.map((c) => ({ x: x(c), y: c.val_loss })) },
  ], xFormat, height: 170, title: `Loss per epoch, ${curves.length} of ${epochs}` });
  lineChart(acc, { series: [{ name: "validation accuracy", color: "#1f9d55", points: curves.map((c) => ({ x: x(c), y: c.val_accuracy })) }],
    xFormat, yFormat: (v) => pct(v), yMin: 0, yMax: 1, height: 170, area: true, title: `Validation accuracy per epoch, ${curves.length} of ${epochs}` });
}

function trainingState(job) {
  const r = job.result || {};
  if (job.status === "succeeded") {
    const model = registry?.results.find((m) => m.id === r.model_version);
    return h("span", { class: "ok" }, "Finished", model ? ` · ${model.name}` : "", job.started_at && job.finished_at ? ` in ${duration((new Date(job.finished_at) - new Date(job.started_at)) / 1000)}` : "");
  }
  if (job.status === "failed") return h("span", { class: "bad" }, `Failed: ${job.error || job.stage}`);
  if (job.status === "cancelled") return h("span", { class: "muted" }, job.cancelled_by ? `Cancelled by ${job.cancelled_by}` : "Cancelled");
  if (job.cancel_requested_at) return h("span", {}, "Stopping…");
  if (job.status === "queued") return h("span", {}, "Queued: waiting for an ml worker");
  return h("span", {}, job.stage && !/^epoch/i.test(job.stage) ? job.stage : "Running");
}

function panelFor(job) {
  let panel = document.querySelector(`.training[data-job='${job.id}']`);
  if (!panel) {
    panel = h("article", { class: "card training", "data-job": job.id },
      h("div", { class: "training-head" }, h("h2", {}), h("div", { class: "training-actions" })),
      h("p", { class: "training-facts small" }),
      h("div", { class: "progress", role: "progressbar", "aria-label": `Training #${job.id}`, "aria-valuemin": 0, "aria-valuemax": 100 }, h("span", {})),
      h("div", { class: "grid two training-charts" },
        h("div", {}, h("h3", {}, "Loss"), h("div", { class: "chart-box chart-loss" })),
        h("div", {}, h("h3", {}, "Validation accuracy"), h("div", { class: "chart-box chart-acc" }))));
    document.getElementById("trainings").append(panel);
  }
  return panel;
}

function renderTraining(job) {
  const panel = panelFor(job);
  const r = job.result || {}, p = job.params || {};
  const curves = r.curves || [];
  const epochs = r.epochs || job.progress_total || p.epochs || 0;
  panel.className = `card training ${job.status}`;
  const version = r.dataset_version ?? p.dataset_version;
  panel.querySelector("h2").replaceChildren(`Training #${job.id}`,
    version ? h("span", { class: "muted" }, " on ", h("a", { href: `/projects/${config.project}/versions/${version}/` }, versionNumbers.has(version) ? `v${versionNumbers.get(version)}` : `version #${version}`)) : "",
    p.targets ? h("span", { class: "muted small" }, ` · ${p.targets} targets, ${p.start === "finetune" ? "fine-tuning the active model" : "from scratch"}`) : "");
  const done = job.status === "succeeded" ? epochs : Math.min(job.progress_done || curves.length, epochs || Infinity);
  const facts = [h("span", { class: "epochs" }, `${done} / ${epochs} epochs`)];
  if (LIVE.has(job.status) && r.eta_seconds !== null && r.eta_seconds !== undefined) facts.push(h("span", { class: "eta" }, `about ${duration(r.eta_seconds)} left`));
  if (r.device) facts.push(h("span", {}, `on ${r.device}`));
  if (r.resumed_from_epoch) facts.push(h("span", { class: "warn" }, `resumed from epoch ${r.resumed_from_epoch}`));
  const last = curves.at(-1);
  if (last) facts.push(h("span", {}, `validation accuracy ${pct(last.val_accuracy, 1)}`));
  panel.querySelector(".training-facts").replaceChildren(trainingState(job), ...facts.flatMap((f) => [" · ", f]));
  const share = epochs ? done / epochs : 0;
  const bar = panel.querySelector(".progress");
  bar.setAttribute("aria-valuenow", Math.round(share * 100));
  bar.firstChild.style.width = `${(share * 100).toFixed(1)}%`;
  const actions = panel.querySelector(".training-actions");
  actions.replaceChildren();
  if (LIVE.has(job.status) && !job.cancel_requested_at) {
    actions.append(h("button", { type: "button", class: "button small", "data-cancel": job.id, onclick: async (e) => {
      e.target.disabled = true;
      try { await api(`/api/jobs/${job.id}/cancel/`, { method: "POST" }); toast(`Cancelling training #${job.id}…`); } catch (err) { toast(errorText(err), "bad"); }
      refresh();
    } }, "Cancel"));
  } else if (!LIVE.has(job.status)) {
    actions.append(h("button", { type: "button", class: "button small", title: "Hide this panel", onclick: () => { panels.delete(job.id); panel.remove(); } }, "Dismiss"));
  }
  curveCharts(panel, curves, epochs);
}

async function renderTrainings(data) {
  const live = new Set(data.trainings.map((j) => j.id));
  for (const job of data.trainings) panels.set(job.id, job);
  // A training that left the live list finished: read its last state once, so its final curves stay on screen.
  const gone = [...panels.values()].filter((j) => !live.has(j.id) && LIVE.has(j.status));
  for (const job of await Promise.all(gone.map((j) => api(`/api/jobs/${j.id}/`).catch(() => null)))) if (job) panels.set(job.id, job);
  for (const job of panels.values()) renderTraining(job);
}

// ---- versions table

function figure(value, format, title, stale) {
  return h("td", { class: `num${stale ? " stale" : ""}`, title }, format(value));
}

function trainedOn(m) {
  const dv = m.dataset_version;
  if (dv) return h("td", {}, h("a", { href: `/projects/${config.project}/versions/${dv.id}/`, "data-dataset-version": dv.id, title: dv.sha256 }, `v${dv.number}`),
    dv.name && dv.name !== `v${dv.number}` ? h("div", { class: "muted small" }, dv.name) : "");
  if (m.shipped) return h("td", { class: "muted small" }, "FER2013 Training (shipped)");
  return h("td", { class: "muted small", title: m.dataset_sha256 }, m.dataset_sha256 ? `deleted version ${m.dataset_sha256.slice(0, 8)}` : "–");
}

function recipe(m) {
  const r = m.recipe || {}, c = r.config || {};
  if (!r.targets) return h("td", { class: "muted small" }, m.shipped ? r.source || "the release's weights" : "–");
  const init = r.init_model && registry.results.find((x) => x.id === r.init_model);
  return h("td", { class: "small recipe" }, h("div", {}, `${r.targets} targets · ${r.start === "finetune" ? "fine-tuned" : "from scratch"}`),
    init ? h("div", { class: "muted" }, `from ${init.name}`) : null,
    h("div", { class: "muted" }, [c.epochs && `${c.epochs} epochs`, c.lr && `lr ${c.lr}`].filter(Boolean).join(" · ")),
    r.train_faces ? h("div", { class: "muted" }, `${r.train_faces.toLocaleString()} training faces`) : null);
}

function row(m) {
  const e = m.evaluation, stale = m.evaluation_state !== "current";
  const staleNote = m.evaluation_state === "stale" ? "scored on an older state of the evaluation set: Score all updates it" : "";
  const pick = h("input", { type: "checkbox", "data-pick": m.id, "aria-label": `Compare ${m.name}`, checked: picked.has(m.id),
    disabled: m.evaluation_state !== "current" && !picked.has(m.id), title: m.evaluation_state !== "current" ? "Score it on the current evaluation set first" : "Compare" });
  pick.addEventListener("change", () => {
    if (pick.checked) picked.add(m.id); else picked.delete(m.id);
    if (picked.size > 2) { const first = picked.values().next().value; picked.delete(first); }
    document.querySelectorAll("#models-table input[data-pick]").forEach((box) => { box.checked = picked.has(Number(box.dataset.pick)); });
    updateCompare();
  });
  const name = h("td", { class: "model-name" }, h("strong", {}, m.name),
    m.active ? h("span", { class: "badge ok", "data-active": "" }, "active") : null,
    m.shipped ? h("span", { class: "badge info" }, "shipped") : null,
    h("div", { class: "muted small" }, new Date(m.created_at).toLocaleString()),
    e?.low_evidence ? h("div", { class: "thin small", role: "note" }, `⚠ only ${e.n_final} face${e.n_final === 1 ? "" : "s"} with a final label: figures are thin`) : null);
  const faces = e ? h("td", { class: `num${stale ? " stale" : ""}`, title: `${e.n} of ${e.n_total} evaluation faces scored; ${e.excluded_trained} left out because this version trained on them` },
    e.n.toLocaleString(), h("div", { class: "muted small" }, `${e.excluded_trained.toLocaleString()} left out`))
    : h("td", { class: "num muted", colspan: 1 }, m.evaluation_state === "none" ? "no set" : "not scored");
  const buttons = h("div", { class: "model-actions" });
  if (!m.active) buttons.append(h("button", { type: "button", class: "button small primary", "data-promote": m.id, onclick: () => promote(m) }, "Promote"));
  if (m.download_url) buttons.append(h("a", { class: "button small", href: m.download_url, download: "", "data-download": m.id, title: "checkpoint.pt and MODEL_CARD.md, zipped" }, "Download"));
  const actions = h("td", {}, buttons);
  const accs = (m.curves || []).map((c) => c.val_accuracy);
  return h("tr", { "data-model": m.id, class: m.active ? "active" : "" },
    h("td", {}, pick), name, trainedOn(m), recipe(m),
    figure(e?.accuracy_final, (v) => pct(v, 1), e ? `${e.n_final} faces with a final label${staleNote ? `; ${staleNote}` : ""}` : "", stale),
    figure(e?.accuracy_majority, (v) => pct(v, 1), e ? `${e.n_majority} faces with a strict vote majority` : "", stale),
    figure(e?.macro_f1, (v) => num(v, 3), staleNote, stale),
    figure(e?.ece, (v) => num(v, 3), staleNote, stale),
    faces,
    h("td", { class: "num", title: m.machine ? [m.machine.host, m.machine.cpu, m.machine.threads && `${m.machine.threads} threads`, m.machine.torch && `torch ${m.machine.torch}`].filter(Boolean).join(" · ") : "" },
      duration(m.train_seconds), h("div", { class: "muted small device" }, m.device ? `on ${m.device}` : "")),
    h("td", { class: "spark" }, accs.length ? sparkline(accs, { width: 80, label: `${m.name}: validation accuracy over ${accs.length} epochs`, color: "#1f9d55" }) : h("span", { class: "muted" }, "–")),
    actions);
}

function updateCompare() {
  const button = document.getElementById("compare-button");
  button.disabled = picked.size !== 2;
  button.textContent = picked.size === 2 ? "Compare the two" : `Compare (tick ${2 - picked.size} more)`;
}

document.getElementById("compare-button").addEventListener("click", () => {
  const [a, b] = [...picked];
  window.location.href = `compare/?a=${a}&b=${b}`;
});

// ---- promotion

function confirmDialog(title, text, ok) {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").replaceChildren(...[].concat(text));
  document.getElementById("confirm-ok").textContent = ok;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => { dialog.onclose = () => resolve(dialog.returnValue === "ok"); });
}

async function promote(m) {
  const active = registry.results.find((x) => x.active);
  const thin = m.evaluation?.low_evidence ? h("p", { class: "thin" }, `Its figures rest on only ${m.evaluation.n_final} faces.`) : null;
  const text = [`${m.name} becomes this project's pre-labeller${active ? ` in place of ${active.name}` : ""}; a pre-labelling job then scores the project's faces with it. You can roll back afterwards.`];
  if (!(await confirmDialog(`Promote ${m.name}?`, thin ? [...text, thin] : text, "Promote"))) return;
  try {
    const out = await api(`models/${m.id}/promote/`, { method: "POST" });
    toast(`${m.name} is now the pre-labeller; pre-labelling job #${out.prelabel_job} started.`, "ok");
  } catch (e) {
    toast(errorText(e), "bad");
  }
  refresh();
}

document.getElementById("rollback-button").addEventListener("click", async () => {
  const to = registry.roll_back_to;
  if (!to || !(await confirmDialog(`Roll back to ${to.name}?`, `${to.name} pre-labels this project again; a pre-labelling job re-scores the faces.`, "Roll back"))) return;
  try {
    const out = await api("models/rollback/", { method: "POST" });
    toast(`Rolled back to ${to.name}; pre-labelling job #${out.prelabel_job} started.`, "ok");
  } catch (e) {
    toast(errorText(e), "bad");
  }
  refresh();
});

function renderPromotions(data) {
  const list = document.getElementById("promotions");
  list.replaceChildren(...data.promotions.map((p) => h("li", { "data-action": p.action },
    h("span", { class: "muted" }, new Date(p.at).toLocaleString()), " · ",
    p.action === "rollback" ? "rolled back to " : "promoted ", h("strong", {}, p.model_name),
    p.previous_name ? h("span", { class: "muted" }, ` (was ${p.previous_name})`) : "",
    p.by ? h("span", { class: "muted" }, ` by ${p.by}`) : "")));
  if (!data.promotions.length) list.append(h("li", { class: "empty" }, "No promotion yet: the shipped model pre-labels this project."));
  const back = document.getElementById("rollback-button");
  back.hidden = !(data.can_roll_back && data.roll_back_to);
  if (data.roll_back_to) back.textContent = `Roll back to ${data.roll_back_to.name}`;
}

// ---- refresh loop

async function refresh() {
  clearTimeout(timer);
  let live = false;
  try {
    registry = await api("models/");
    renderEvaluation(registry);
    await renderTrainings(registry);
    const body = document.querySelector("#models-table tbody");
    const ids = new Set(registry.results.map((m) => m.id));
    for (const id of [...picked]) if (!ids.has(id)) picked.delete(id);
    registry.results.sort((x, y) => (x.shipped - y.shipped) || (new Date(y.created_at) - new Date(x.created_at)) || y.id - x.id);
    body.replaceChildren(...registry.results.map(row));
    if (!registry.results.length) body.append(h("tr", {}, h("td", { colspan: 12, class: "empty" }, "No model version yet.")));
    updateCompare();
    renderPromotions(registry);
    live = registry.trainings.length > 0 || Boolean(registry.evaluating);
    document.body.dataset.ready = "1";
  } catch (e) {
    toast(errorText(e), "bad");
  }
  timer = setTimeout(refresh, live ? POLL_LIVE : POLL_IDLE);
}

async function init() {
  api("versions/").then((versions) => {
    for (const v of versions) versionNumbers.set(v.id, v.number);
    if (registry) for (const job of panels.values()) renderTraining(job);
  }).catch(() => {});
  if (config.job) {  // arrived from the training form: show that job even if it already finished
    try {
      const job = await api(`/api/jobs/${config.job}/`);
      if (job.kind === "train") panels.set(job.id, job);
    } catch (e) {
      toast(errorText(e), "bad");
    }
  }
  await refresh();
}

init();

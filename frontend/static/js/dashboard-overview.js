// Overview page: live cards and charts, and the pre-label / quality-run buttons with progress. The cards and charts
// are drawn again whenever a job of the project finishes, whoever started it (the jobs API is polled), never by a reload.
import { api, ApiError, config, followJob, h, toast } from "./dashboard.js";
import { barChart, labelColor, lineChart, PALETTE, shortLabel, timeBarChart } from "./charts.js";

const hourFormat = (x) => {
  const d = new Date(x);
  return `${d.toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" })} ${String(d.getUTCHours()).padStart(2, "0")}h`;
};
const LIVE = new Set(["queued", "running"]);
const POLL_LIVE_MS = 1000, POLL_IDLE_MS = 5000;
const KIND_NAMES = { prelabel: "Pre-labelling", analyse: "Quality run", import: "Import", export: "Export", train: "Retraining", evaluate: "Model evaluation", ping: "Health check" };

// At most n of the values, first and last included, evenly spaced (run numbers to label on an axis).
const spread = (values, n) => [...new Set(Array.from({ length: n }, (_, i) => values[Math.round((i * (values.length - 1)) / (n - 1))]))];
const set = (id, value) => { const node = document.getElementById(id); if (node) node.textContent = value; };
const fixed = (v) => (typeof v === "number" ? v.toFixed(3) : "–");

function drawCards(data) {
  const p = data.progress, run = data.latest_run || {};
  set("stat-items", p.items);
  set("stat-excluded", p.excluded_items);
  set("stat-done", p.done);
  const bar = document.getElementById("stat-done-bar");
  if (bar) bar.style.width = `${p.items ? Math.round((100 * p.done) / p.items) : 0}%`;
  set("stat-answers", p.answers);
  set("stat-leases", p.live_leases);
  set("stat-gold", p.gold_coverage === null ? "–" : `${Math.round(p.gold_coverage * 100)}%`);
  set("stat-gold-sub", `${p.gold_answered} of ${p.gold} gold faces answered`);
  set("stat-alpha", fixed(run.krippendorff_alpha));
  set("stat-kappa", fixed(run.fleiss_kappa));
  set("stat-run", run.number ? `run #${run.number}` : "no quality run yet");
  set("stat-source", run.probability_source ? `probabilities: ${run.probability_source}` : "\u00a0");
  const last = data.last_analysis, note = document.getElementById("last-analysis");
  if (note) {
    note.replaceChildren(...(last ? [`Latest quality-run job #${last.job}: `,
      last.reused ? h("span", { class: "reused" }, last.label) : `made ${last.label}`, "."] : []));
  }
  document.body.dataset.answers = String(p.answers);
  document.body.dataset.run = String(run.number || 0);
}

function drawCharts(data) {
  const target = data.progress.overlap_target;
  barChart(document.getElementById("chart-answer-count"), {
    bars: data.progress.by_answer_count.map((b) => ({
      label: String(b.answers), value: b.items,
      color: b.answers >= target ? "#1f9d55" : b.answers === 0 ? "#b7bec9" : "#3056d3",
      title: `${b.items} faces with ${b.answers} answer(s)`,
    })),
    xTitle: "answers per face", title: "Items by number of answers",
  });
  barChart(document.getElementById("chart-balance"), {
    bars: data.class_balance.map((c) => ({ label: shortLabel(c.label), value: c.items, color: labelColor(config.labels, c.label), title: `${c.label}: ${c.items} faces` })),
    title: "Class balance",
  });
  // One point per run, at its run number: runs a minute apart stay apart, and one run is one labelled point.
  const trend = data.agreement_trend.filter((r) => r.number);
  lineChart(document.getElementById("chart-trend"), {
    series: [
      { name: "Krippendorff's α", color: PALETTE[3], points: trend.map((r) => ({ x: r.number, y: r.krippendorff_alpha })) },
      { name: "Fleiss' κ", color: PALETTE[1], points: trend.map((r) => ({ x: r.number, y: r.fleiss_kappa })) },
    ],
    yMin: 0, yMax: 1, xFormat: (x) => `#${x}`, padEnds: true, yFormat: (v) => v.toFixed(2), title: "Agreement across quality runs",
    xTicks: trend.length <= 8 ? trend.map((r) => r.number) : spread(trend.map((r) => r.number), 6),
  });
}

async function drawOverview() {
  const data = await api("overview/");
  drawCards(data);
  drawCharts(data);
  return data;
}

async function drawPerHour() {
  const rows = await api("answers-per-hour/", { params: { days: 14 } });
  timeBarChart(document.getElementById("chart-per-hour"), {
    bars: rows.map((r) => ({ x: new Date(r.hour), value: r.answers })), xFormat: hourFormat, title: "Answers per hour",
  });
}

async function redraw() {
  await Promise.all([drawOverview(), drawPerHour()]);
  document.body.dataset.drawn = String(Number(document.body.dataset.drawn || 0) + 1);
}

// --- jobs: the newest few, followed while they are live ---------------------------------------------------

const jobRows = new Map();
const known = new Map();  // job id -> last status seen
const followed = new Set();

function jobText(job) {
  const total = job.progress_total || 0, done = job.progress_done || 0;
  if (job.status === "running") return `${job.stage || "running"} · ${done}/${total}`;
  if (job.status === "failed") return `failed: ${job.error || ""}`.slice(0, 120);
  return job.status;
}

function jobRow(job) {
  let row = jobRows.get(job.id);
  if (!row) {
    row = h("li", { class: "job", "data-job": job.id });
    jobRows.set(job.id, row);
    const list = document.getElementById("job-list");
    const newer = [...list.children].find((li) => Number(li.dataset.job) < job.id);
    list.insertBefore(row, newer || null);
    while (list.children.length > 6) { jobRows.delete(Number(list.lastElementChild.dataset.job)); list.lastElementChild.remove(); }
  }
  const total = job.progress_total || 0, done = job.progress_done || 0;
  const share = job.status === "succeeded" ? 1 : total ? Math.min(1, done / total) : 0;
  row.className = `job ${job.status}`;
  const bar = h("span");
  bar.style.width = `${(share * 100).toFixed(1)}%`;
  row.replaceChildren(
    h("span", { class: "job-name" }, `${KIND_NAMES[job.kind] || job.kind} · job #${job.id}`),
    h("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": Math.round(share * 100) }, bar),
    h("span", { class: "job-status" }, jobText(job)),
    job.output ? h("a", { class: "job-output", href: job.output.url }, job.output.label) : null,
  );
}

let looked = false;  // after the first look, a finished job not seen before (started and done between two polls) counts too

function seen(job) {
  const before = known.get(job.id);
  known.set(job.id, job.status);
  jobRow(job);
  if (LIVE.has(job.status)) return false;
  return before === undefined ? looked : LIVE.has(before);
}

async function follow(job) {
  if (followed.has(job.id)) return;
  followed.add(job.id);
  try {
    known.set(job.id, job.status);
    jobRow(job);
    const final = await followJob(job.id, (j) => { known.set(j.id, j.status); jobRow(j); });
    const name = KIND_NAMES[final.kind] || "Job";
    if (final.status === "succeeded") toast(`${name} finished${final.output ? `: ${final.output.label}` : ""}.`, "ok");
    else if (final.status === "cancelled") toast(`${name} was cancelled.`, "info");
    else toast(`${name} failed.`, "bad");
    await redraw();
  } finally {
    followed.delete(job.id);
  }
}

let pollTimer = null;

// The project's newest jobs: live ones are followed; one that finished since the last look redraws the page.
async function pollJobs() {
  clearTimeout(pollTimer);
  let live = false;
  try {
    const page = await api("jobs/", { params: { limit: 6 } });
    let finished = false;
    for (const job of [...page.results].reverse()) {
      if (followed.has(job.id)) { live = true; continue; }
      if (seen(job)) finished = true;
      if (LIVE.has(job.status)) { live = true; follow(job).catch((e) => toast(e.message, "bad")); }
    }
    looked = true;
    document.body.dataset.polled = String(Number(document.body.dataset.polled || 0) + 1);
    if (finished) await redraw();
  } catch (e) {
    if (e.status === 404) document.getElementById("job-list").replaceChildren(h("li", { class: "muted small" }, "The jobs API is not available on this server yet."));
  }
  pollTimer = setTimeout(pollJobs, live ? POLL_LIVE_MS : POLL_IDLE_MS);
}

// Start buttons: disabled while the request is in flight; the server refuses a second identical job that is
// still queued or running (409 job_in_progress), and the page then follows the job already under way.
for (const button of document.querySelectorAll("[data-start]")) {
  button.addEventListener("click", async () => {
    if (button.disabled) return;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      const job = await api(`${button.dataset.start}/`, { method: "POST", body: {} });
      follow(job).catch((e) => toast(e.message, "bad"));
    } catch (e) {
      if (e instanceof ApiError && e.code === "job_in_progress" && e.body?.error?.details?.job) {
        toast(e.message, "info");
        const job = await api(`/api/jobs/${e.body.error.details.job}/`).catch(() => null);
        if (job) follow(job).catch(() => {});
      } else toast(e.message, "bad");
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  });
}

redraw().catch((e) => toast(e.message, "bad")).finally(() => { document.body.dataset.ready = "1"; });
pollJobs();

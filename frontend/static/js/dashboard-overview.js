// Overview page: progress and agreement charts, and the pre-label / quality-run buttons with live progress.
import { api, config, followJob, h, toast } from "./dashboard.js";
import { barChart, labelColor, lineChart, PALETTE, shortLabel } from "./charts.js";

const hourFormat = (x) => {
  const d = new Date(x);
  return `${d.toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" })} ${String(d.getUTCHours()).padStart(2, "0")}h`;
};
const dayFormat = (x) => new Date(x).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });

async function drawOverview() {
  const data = await api("overview/");
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
  const trend = data.agreement_trend;
  lineChart(document.getElementById("chart-trend"), {
    series: [
      { name: "Krippendorff's α", color: PALETTE[3], points: trend.map((r) => ({ x: new Date(r.at), y: r.krippendorff_alpha })) },
      { name: "Fleiss' κ", color: PALETTE[1], points: trend.map((r) => ({ x: new Date(r.at), y: r.fleiss_kappa })) },
    ],
    yMin: 0, yMax: 1, xFormat: dayFormat, title: "Agreement trend",
  });
}

async function drawPerHour() {
  const rows = await api("answers-per-hour/", { params: { days: 14 } });
  lineChart(document.getElementById("chart-per-hour"), {
    series: [{ name: "answers", color: PALETTE[3], points: rows.map((r) => ({ x: new Date(r.hour), y: r.answers })) }],
    xFormat: hourFormat, area: true, title: "Answers per hour",
  });
}

const KIND_NAMES = { prelabel: "Pre-labelling", analyse: "Quality run", import: "Import", export: "Export", train: "Retraining" };
const jobRows = new Map();

function jobRow(job) {
  let row = jobRows.get(job.id);
  if (!row) {
    row = h("li", { class: "job", "data-job": job.id });
    jobRows.set(job.id, row);
    document.getElementById("job-list").prepend(row);
  }
  const total = job.progress_total || 0, done = job.progress_done || 0;
  const share = job.status === "succeeded" ? 1 : total ? done / total : 0;
  row.className = `job ${job.status}`;
  row.replaceChildren(
    h("span", { class: "job-name" }, `${KIND_NAMES[job.kind] || job.kind} #${job.id}`),
    h("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": Math.round(share * 100) },
      h("span", { style: `width:${(share * 100).toFixed(1)}%` })),
    h("span", { class: "job-status" }, job.status === "running" ? `${job.stage || "running"} · ${done}/${total}` : job.status === "failed" ? `failed: ${job.error || ""}`.slice(0, 120) : job.status),
  );
}

async function follow(job) {
  jobRow(job);
  const final = await followJob(job.id, jobRow);
  if (final.status === "succeeded") {
    toast(`${KIND_NAMES[final.kind] || "Job"} finished.`, "ok");
    drawOverview().catch(() => {});
  } else toast(`${KIND_NAMES[final.kind] || "Job"} failed.`, "bad");
}

async function loadJobs() {
  try {
    const data = await api("jobs/");
    const jobs = (Array.isArray(data) ? data : data.results || []).slice(0, 6).reverse();
    for (const job of jobs) {
      if (job.status === "queued" || job.status === "running") follow(job).catch(() => {});
      else jobRow(job);
    }
  } catch (e) {
    if (e.status === 404) document.getElementById("job-list").append(h("li", { class: "muted small" }, "The jobs API is not available on this server yet."));
  }
}

for (const button of document.querySelectorAll("[data-start]")) {
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const data = await api(`${button.dataset.start}/`, { method: "POST", body: {} });
      const job = data.job && typeof data.job === "object" ? data.job : { ...data, id: data.job_id ?? data.job ?? data.id };
      follow({ kind: button.dataset.start === "prelabel" ? "prelabel" : "analyse", status: "queued", ...job }).catch((e) => toast(e.message, "bad"));
    } catch (e) {
      toast(e.status === 404 || e.status === 405 ? "This job cannot be started on this server yet." : e.message, "bad");
    } finally {
      button.disabled = false;
    }
  });
}

drawOverview().catch((e) => toast(e.message, "bad"));
drawPerHour().catch((e) => toast(e.message, "bad"));
loadJobs();

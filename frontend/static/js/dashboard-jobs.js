// The jobs page: every background job of the project, newest first, refreshed while any is queued or running.
import { api, config, h, toast } from "./dashboard.js";

const KIND_NAMES = { prelabel: "Pre-labelling", analyse: "Quality run", import: "Import", export: "Export", train: "Retraining", ping: "Health check" };
const LIVE = new Set(["queued", "running"]);
const PAGE = 50;
const body = document.querySelector("#jobs-table tbody");
const statusFilter = document.getElementById("jobs-status");
let timer = null;

function duration(job) {
  if (!job.started_at) return "–";
  const end = job.finished_at ? new Date(job.finished_at) : new Date();
  const s = Math.max(0, (end - new Date(job.started_at)) / 1000);
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

function stateText(job) {
  if (job.status === "running" && job.cancel_requested_at) return "stopping…";
  if (job.status === "cancelled") return job.cancelled_by ? `cancelled by ${job.cancelled_by}` : "cancelled";
  return job.status;
}

function progressCell(job) {
  const total = job.progress_total || 0, done = job.progress_done || 0;
  const share = job.status === "succeeded" ? 1 : total ? Math.min(1, done / total) : 0;
  const detail = LIVE.has(job.status)
    ? `${job.stage || job.status}${total ? ` · ${done.toLocaleString()} / ${total.toLocaleString()}` : ""}`
    : job.status === "failed" && job.stage ? `stopped while ${job.stage}`
    : job.status === "cancelled" && total ? `stopped at ${done.toLocaleString()} / ${total.toLocaleString()}` : "";
  return h("td", { class: "progress-col" },
    h("div", { class: "progress", role: "progressbar", "aria-label": `Job ${job.id} progress`, "aria-valuemin": 0, "aria-valuemax": 100,
      "aria-valuenow": Math.round(share * 100) }, h("span", { style: `width:${(share * 100).toFixed(1)}%` })),
    h("span", { class: "muted small job-stage" }, detail || ""),
    job.attempts > 1 ? h("span", { class: "badge warn small", title: "Its worker was lost; another attempt took it over." }, `resumed · attempt ${job.attempts}`) : null);
}

function resultCell(job) {
  if (job.status === "failed") return h("td", { class: "job-error" }, job.error || "failed");
  if (job.output) return h("td", {}, h("a", { href: job.output.url }, job.output.label));
  if (job.status === "cancelled" && job.result?.cleanup) {
    const removed = Object.entries(job.result.cleanup).filter(([, n]) => n).map(([k, n]) => `${n} ${k.replaceAll("_", " ")}`);
    return h("td", { class: "muted small" }, removed.length ? `cleaned up: ${removed.join(", ")}` : "nothing was written");
  }
  return h("td", { class: "muted" }, "–");
}

async function cancel(job, button) {
  button.disabled = true;
  try {
    await api(`/api/jobs/${job.id}/cancel/`, { method: "POST" });
    toast(`Cancelling ${KIND_NAMES[job.kind] || job.kind} (job #${job.id})…`);
  } catch (e) {
    toast(e.message, "bad");
  }
  refresh();
}

function row(job) {
  const actions = h("td", { class: "job-cancel" });
  if (LIVE.has(job.status) && !job.cancel_requested_at) {
    const button = h("button", { type: "button", class: "button small", "data-cancel": job.id }, "Cancel");
    button.addEventListener("click", () => cancel(job, button));
    actions.append(button);
  }
  return h("tr", { class: `job-row ${job.status}`, "data-job": job.id },
    h("td", {}, h("strong", {}, KIND_NAMES[job.kind] || job.kind), h("span", { class: "muted" }, ` · job #${job.id}`),
      h("div", { class: "muted small" }, new Date(job.created_at).toLocaleString())),
    h("td", {}, job.created_by || h("span", { class: "muted" }, "periodic")),
    h("td", {}, h("span", { class: `state ${job.status}` }, stateText(job))),
    progressCell(job),
    h("td", { class: "num" }, duration(job)),
    resultCell(job),
    actions);
}

async function refresh() {
  clearTimeout(timer);
  try {
    const page = await api("jobs/", { params: { limit: PAGE, status: statusFilter.value } });
    body.replaceChildren(...page.results.map(row));
    if (!page.results.length) body.append(h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No jobs yet: start a pre-labelling or a quality run from the overview, or import faces.")));
    document.getElementById("jobs-more").textContent = page.count > PAGE ? `Showing the newest ${PAGE} of ${page.count.toLocaleString()} jobs.` : "";
    document.body.dataset.ready = "1";
    const live = page.results.some((job) => LIVE.has(job.status));
    timer = setTimeout(refresh, live ? 1000 : 5000);
  } catch (e) {
    toast(e.message, "bad");
    timer = setTimeout(refresh, 5000);
  }
}

statusFilter.addEventListener("change", refresh);
refresh();

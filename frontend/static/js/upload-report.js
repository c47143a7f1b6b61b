// The upload page's report: an import's counts, notes and lists (skipped, duplicates, near duplicates shown as
// two faces side by side with "Exclude this one"), and the project's past imports that open it again.
import { api, h, toast } from "./dashboard.js";

const LIVE = new Set(["queued", "running"]);
const PAGE = { near_duplicates: 20, skipped: 50, duplicates: 50 };
const LISTS = [["near_duplicates", "Near duplicates"], ["skipped", "Skipped"], ["duplicates", "Duplicates"]];
const EMPTY = {
  near_duplicates: "No near duplicates: no new face looks like another face of the project.",
  skipped: "Nothing was skipped: every row or file was read.",
  duplicates: "No duplicates: nothing in this file was in the project already.",
};
const IMPORTS_PAGE = 10;

const report = document.getElementById("report");
const state = { job: null, list: null, offset: 0, code: "", importsOffset: 0, onOpen: () => {} };

export const fmtBytes = (n) => (n === null || n === undefined ? "" : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} kB` : n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MB` : `${(n / 1024 ** 3).toFixed(2)} GB`);
const count = (n) => Number(n || 0).toLocaleString();

function optionsText(detail) {
  const o = detail.options, parts = [];
  parts.push(o.format === "auto" ? `format ${detail.format === "auto" ? "told from the file" : `${detail.format} (told from the file)`}` : `format ${o.format}`);
  if (o.cropped) parts.push("already cropped");
  if (o.labels_as_answers) parts.push("labels as answers");
  if (o.votes_as_answers) parts.push("votes as answers");
  if (o.gold_from_reference) parts.push("gold from reference labels");
  if (o.split) parts.push(`split ${o.split} where the file gives none`);
  return parts.join(" · ");
}

function stateText(job) {
  if (job.status === "running" && job.progress_total) return `running · ${count(job.progress_done)} / ${count(job.progress_total)}`;
  if (job.status === "cancelled") return job.cancelled_by ? `cancelled by ${job.cancelled_by}` : "cancelled";
  return job.status;
}

function stat(label, value, sub = "") {
  return h("div", { class: "card stat" }, h("span", { class: "stat-label" }, label), h("span", { class: "stat-value" }, count(value)),
    sub ? h("span", { class: "stat-sub" }, sub) : null);
}

function face(info, role) {
  if (!info) return h("div", { class: "face-missing small muted" }, "removed");
  if (!info.image) return h("div", { class: "face-missing small muted" }, "erased");
  const facts = [info.reference_label && `reference ${info.reference_label}`, info.is_gold && "gold", info.split].filter(Boolean).join(" · ");
  return h("figure", { class: "pair-face" },
    h("img", { class: "face", src: info.image, alt: `${role}: item ${info.id}`, loading: "lazy", width: 72, height: 72 }),
    h("figcaption", { class: "small" }, h("strong", {}, `item ${info.id}`), h("span", { class: "muted" }, facts || "no label"),
      h("span", { class: "muted source", title: info.source }, info.source.slice(info.source.indexOf(":") + 1))));
}

async function exclude(entry, cell, button) {
  button.disabled = true;
  try {
    const done = await api(`imports/${state.job.id}/near-duplicates/${entry.item}/exclude/`, { method: "POST" });
    cell.replaceChildren(h("span", { class: "state excluded" }, "excluded"),
      h("div", { class: "muted small" }, done.already ? "it was excluded already" : `review ${done.review} recorded`));
    cell.closest("tr").dataset.state = "excluded";
    toast(done.already ? `Item ${entry.item} was excluded already.` : `Item ${entry.item} is excluded from the dataset and the queue.`, "ok");
  } catch (e) {
    button.disabled = false;
    toast(e.message, "bad");
  }
}

function nearRow(entry) {
  const action = h("td", { class: "pair-action" });
  if (!entry.face) action.append(h("span", { class: "muted small" }, "no longer in the project"));
  else if (entry.face.excluded) action.append(h("span", { class: "state excluded" }, "excluded"));
  else if (entry.face.erased) action.append(h("span", { class: "muted small" }, "erased"));
  else {
    const button = h("button", { type: "button", class: "button small", "data-exclude": entry.item }, "Exclude this one");
    button.addEventListener("click", () => exclude(entry, action, button));
    action.append(button);
  }
  return h("tr", { class: "pair-row", "data-item": entry.item, "data-state": entry.face?.excluded ? "excluded" : "open" },
    h("td", {}, face(entry.face, "New face")),
    h("td", { class: "pair-mid" }, h("span", { class: "pair-arrow", "aria-hidden": "true" }, "≈"),
      h("span", { class: "small" }, `distance ${entry.distance}`), h("span", { class: "muted small" }, "of 64 bits")),
    h("td", {}, face(entry.similar_face, "Looks like")),
    h("td", { class: "small where" }, entry.where),
    action);
}

const reasonText = (entry) => (entry.reason.startsWith(`${entry.where}: `) ? entry.reason.slice(entry.where.length + 2) : entry.reason);

function table(name, rows) {
  if (name === "near_duplicates") {
    return h("table", { class: "report-table pairs", "aria-label": "Near duplicates" },
      h("thead", {}, h("tr", {}, h("th", {}, "New face (this import)"), h("th", {}, ""), h("th", {}, "Looks like"), h("th", {}, "In the file"), h("th", {}, ""))),
      h("tbody", {}, rows.map(nearRow)));
  }
  if (name === "skipped") {
    return h("table", { class: "report-table", "aria-label": "Skipped rows and files" },
      h("thead", {}, h("tr", {}, h("th", {}, "In the file"), h("th", {}, "Reason"), h("th", {}, ""))),
      h("tbody", {}, rows.map((e) => h("tr", { class: "skip-row" }, h("td", { class: "where" }, e.where), h("td", {}, reasonText(e)),
        h("td", {}, h("code", { class: "small" }, e.code))))));
  }
  return h("table", { class: "report-table", "aria-label": "Duplicates" },
    h("thead", {}, h("tr", {}, h("th", {}, "In the file"), h("th", {}, "Why"), h("th", {}, "Stored as"))),
    h("tbody", {}, rows.map((e) => h("tr", {}, h("td", { class: "where" }, e.where), h("td", {}, reasonText(e)),
      h("td", {}, e.face?.image ? h("img", { class: "face small-face", src: e.face.image, alt: `item ${e.item}`, loading: "lazy", width: 40, height: 40 }) : "")))));
}

function pager(page, onMove) {
  const box = h("div", { class: "pager small" });
  if (page.count <= page.limit && page.listed === page.total) return box;
  const last = Math.min(page.offset + page.limit, page.count);
  const prev = h("button", { type: "button", class: "button small", disabled: page.offset === 0 }, "Previous");
  const next = h("button", { type: "button", class: "button small", disabled: last >= page.count }, "Next");
  prev.addEventListener("click", () => onMove(Math.max(0, page.offset - page.limit)));
  next.addEventListener("click", () => onMove(page.offset + page.limit));
  box.append(prev, h("span", { class: "pager-text" }, `${count(page.offset + 1)}–${count(last)} of ${count(page.count)}`), next);
  if (page.listed < page.total) box.append(h("span", { class: "muted" }, `the report lists the first ${count(page.listed)} of ${count(page.total)}`));
  return box;
}

async function showList(name, offset = 0, code = state.code) {
  Object.assign(state, { list: name, offset, code });
  for (const tab of document.querySelectorAll("#report-tabs [data-list]")) tab.setAttribute("aria-pressed", String(tab.dataset.list === name));
  const box = document.getElementById("report-list");
  try {
    const page = await api(`imports/${state.job.id}/entries/`, { params: { list: name, offset, limit: PAGE[name], code: name === "skipped" ? code : "" } });
    const parts = [];
    if (name === "skipped" && state.job.skip_reasons.length > 1) {
      const chip = (label, value, n) => {
        const b = h("button", { type: "button", class: `chip reason${value === code ? " on" : ""}`, "aria-pressed": String(value === code) }, label, n === null ? "" : ` ${count(n)}`);
        b.addEventListener("click", () => showList("skipped", 0, value));
        return b;
      };
      parts.push(h("div", { class: "reasons" }, chip("all", "", null), state.job.skip_reasons.map((r) => chip(r.code, r.code, r.count))));
    }
    parts.push(page.results.length ? table(name, page.results) : h("p", { class: "empty" }, EMPTY[name]));
    parts.push(pager(page, (o) => showList(name, o, code)));
    box.replaceChildren(...parts);
    report.dataset.list = name;
  } catch (e) {
    box.replaceChildren(h("p", { class: "upload-error" }, e.message));
  }
}

function renderReport(detail) {
  state.job = detail;
  report.hidden = false;
  report.dataset.job = detail.id;
  report.dataset.status = detail.status;
  const c = detail.counts;
  document.getElementById("report-title").textContent = `Import #${detail.id}: ${detail.filename || "upload"}`;
  const when = new Date(detail.created_at).toLocaleString();
  document.getElementById("report-meta").textContent =
    [`${stateText(detail)}`, `by ${detail.created_by || "manage.py"} on ${when}`, fmtBytes(detail.size), optionsText(detail),
      detail.seconds !== null && detail.seconds !== undefined ? `${detail.seconds.toFixed(1)} s` : ""].filter(Boolean).join(" · ");
  document.getElementById("report-json").href = detail.job_url;
  const error = document.getElementById("report-error");
  error.hidden = !detail.error;
  error.textContent = detail.error;
  const live = LIVE.has(detail.status);
  document.getElementById("report-stats").replaceChildren(
    stat("Imported", c.imported, live ? "so far" : c.seen ? `of ${count(c.seen)} rows or files read` : ""),
    stat("Updated", c.updated, c.answers ? `${count(c.answers)} answers created` : "faces imported before, given FER+ votes"),
    stat("Skipped", c.skipped, "unreadable or refused"),
    stat("Duplicates", c.duplicates, "in the project already: not stored"),
    stat("Near duplicates", c.near_duplicates, "stored, listed to review"),
    stat("Gold", c.gold, detail.options.gold_from_reference ? "gold label = reference label" : "option not chosen"));
  const notes = [...detail.notes];
  if (detail.cleanup) {
    const { items_removed: removed = 0, items_kept_answered: kept = 0 } = detail.cleanup;
    notes.unshift(removed || kept
      ? `Cancelled: the ${count(removed)} faces it had stored were removed${kept ? `, ${count(kept)} that annotators answered meanwhile were kept` : ""}.`
      : "Cancelled before it stored anything.");
  }
  document.getElementById("report-notes").replaceChildren(...notes.map((n) => h("li", {}, n)));
  const tabs = document.getElementById("report-tabs");
  tabs.replaceChildren(...LISTS.map(([name, label]) => {
    const b = h("button", { type: "button", class: "button small", "data-list": name }, `${label} (${count(c[name])})`);
    b.addEventListener("click", () => showList(name, 0, ""));
    return b;
  }));
  const first = c.near_duplicates ? "near_duplicates" : c.skipped ? "skipped" : "duplicates";
  showList(state.list && state.job.id === detail.id ? state.list : first, 0, "");
}

export async function openReport(jobId, { scroll = false } = {}) {
  const detail = await api(`imports/${jobId}/`);
  if (state.job?.id !== detail.id) state.list = null;
  renderReport(detail);
  state.onOpen(detail);
  for (const row of document.querySelectorAll("#imports-table tr[data-job]")) row.classList.toggle("selected", row.dataset.job === String(jobId));
  if (scroll) report.scrollIntoView({ behavior: "smooth", block: "start" });
  return detail;
}

export async function refreshImports(offset = state.importsOffset) {
  state.importsOffset = offset;
  const page = await api("imports/", { params: { limit: IMPORTS_PAGE, offset } });
  const body = document.querySelector("#imports-table tbody");
  body.replaceChildren(...page.results.map((job) => {
    const link = h("a", { href: `?job=${job.id}`, "data-open": job.id }, job.filename || `import #${job.id}`);
    link.addEventListener("click", (event) => {
      event.preventDefault();
      history.replaceState(null, "", `?job=${job.id}`);
      openReport(job.id, { scroll: true }).catch((e) => toast(e.message, "bad"));
    });
    return h("tr", { "data-job": job.id, class: `import-row ${job.status}${state.job?.id === job.id ? " selected" : ""}` },
      h("td", {}, link, h("div", { class: "muted small" }, `#${job.id} · ${job.created_by || "manage.py"} · ${new Date(job.created_at).toLocaleString()}`)),
      h("td", {}, h("span", { class: `state ${job.status}` }, stateText(job))),
      h("td", { class: "num" }, count(job.counts.imported)), h("td", { class: "num" }, count(job.counts.skipped)),
      h("td", { class: "num" }, count(job.counts.near_duplicates)));
  }));
  if (!page.results.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No imports yet: drop a file to start the first.")));
  document.getElementById("imports-count").textContent = page.count ? `${count(page.count)} in all` : "";
  const pagerBox = document.getElementById("imports-pager");
  pagerBox.replaceChildren(...pager({ offset, limit: IMPORTS_PAGE, count: page.count, listed: page.count, total: page.count }, refreshImports).childNodes);
  return page;
}

export function onReportOpen(callback) {
  state.onOpen = callback;
}

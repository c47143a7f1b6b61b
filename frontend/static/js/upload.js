// The upload page: drop or choose a csv, a zip, photos or a folder; photos and folders are packed into one zip here;
// the upload shows its progress (XHR), then the import job's, with Cancel; the report opens when it is done.
import { ApiError, api, config, h, toast } from "./dashboard.js";
import { fmtBytes, onReportOpen, openReport, refreshImports } from "./upload-report.js";
import { zipFiles } from "./zip.js";

const SINGLE = /\.(csv|zip|jpe?g|png|webp)$/i;
const SYSTEM_NAMES = new Set(["thumbs.db", "desktop.ini"]);
const LIVE = new Set(["queued", "running"]);

const form = document.getElementById("upload-form");
const zone = document.getElementById("drop-zone");
const chosen = document.getElementById("chosen");
const button = document.getElementById("upload-button");
const errorBox = document.getElementById("upload-error");
const progress = document.getElementById("progress");
const cancelButton = document.getElementById("cancel-button");
const gold = document.getElementById("opt-gold"), labels = document.getElementById("opt-labels");

let selection = null; // {name, size, file} for one file, or {name, size, entries, leftOut} for photos to pack
let running = null; // what Cancel stops: {abort()} while packing or sending, {job} while importing

const plural = (n, one, many = `${one}s`) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

function showError(message) {
  errorBox.hidden = !message;
  errorBox.textContent = message || "";
}

function setBar(id, share, detail, labelText) {
  const bar = document.getElementById(`${id}-bar`);
  const value = Math.round(Math.max(0, Math.min(1, share)) * 100);
  bar.setAttribute("aria-valuenow", value);
  bar.firstElementChild.style.width = `${value}%`;
  document.getElementById(`${id}-detail`).textContent = detail;
  if (labelText) document.getElementById(`${id}-label`).textContent = labelText;
}

function isSystem(path) {
  const parts = path.split("/");
  return parts.some((p) => p.startsWith(".") || p === "__MACOSX") || SYSTEM_NAMES.has(parts[parts.length - 1].toLowerCase());
}

// files: [{path, file}] as dropped or chosen; folder: whether a folder was among them.
function choose(files, folder) {
  showError("");
  selection = null;
  if (!files.length) return render("Nothing to upload: the folder is empty.");
  if (files.length === 1 && !folder) {
    const { file } = files[0];
    if (!SINGLE.test(file.name)) return render(`${file.name} is not a csv, a zip or a .jpg, .png or .webp photo.`);
    if (file.size > config.max_upload_bytes) return render(`${file.name} is ${fmtBytes(file.size)}; an upload is at most ${fmtBytes(config.max_upload_bytes)}.`);
    if (!file.size) return render(`${file.name} is empty.`);
    selection = { name: file.name, size: file.size, file };
    return render();
  }
  const loose = files.filter((f) => /\.(csv|zip)$/i.test(f.path) && !f.path.includes("/"));
  if (loose.length) return render(`Drop ${loose[0].path} on its own: a csv or zip is one upload, photos and folders another.`);
  const leftOut = [], entries = [];
  for (const f of files) {
    if (isSystem(f.path)) leftOut.push([f.path, "hidden or system file"]);
    else if (f.file.size > config.max_file_bytes) leftOut.push([f.path, `${fmtBytes(f.file.size)}, above the ${fmtBytes(config.max_file_bytes)} a photo may have`]);
    else entries.push(f);
  }
  if (!entries.length) return render("None of these files can be imported.", leftOut);
  if (entries.length > config.max_members) return render(`${plural(entries.length, "file")}: one upload reads at most ${config.max_members.toLocaleString()}; upload the folder in parts.`, leftOut);
  const size = entries.reduce((s, f) => s + f.file.size + 76 + 2 * f.path.length, 22);
  if (size > config.max_upload_bytes) return render(`${fmtBytes(size)} of photos; an upload is at most ${fmtBytes(config.max_upload_bytes)}: upload the folder in parts.`, leftOut);
  const tops = new Set(entries.map((f) => f.path.split("/")[0]));
  const name = folder && tops.size === 1 && entries[0].path.includes("/") ? `${[...tops][0]}.zip` : "photos.zip";
  selection = { name, size, entries, leftOut };
  return render();
}

function render(problem = "", leftOut = selection?.leftOut || []) {
  chosen.hidden = false;
  const parts = [];
  if (problem) parts.push(h("p", { class: "upload-error" }, problem));
  else if (selection.file) parts.push(h("p", {}, h("strong", {}, selection.name), ` · ${fmtBytes(selection.size)}`));
  else {
    const folders = new Set(selection.entries.map((f) => f.path.split("/").slice(0, -1).join("/")).filter(Boolean));
    parts.push(h("p", {}, h("strong", {}, plural(selection.entries.length, "file")), folders.size ? ` in ${plural(folders.size, "folder")}` : "",
      ` · ${fmtBytes(selection.size)}, sent as one zip (${selection.name})`));
  }
  if (leftOut.length) {
    parts.push(h("details", { class: "small" }, h("summary", {}, `${plural(leftOut.length, "file")} left out before the upload`),
      h("ul", { class: "plain" }, leftOut.slice(0, 50).map(([path, why]) => h("li", {}, `${path}: ${why}`)),
        leftOut.length > 50 ? h("li", { class: "muted" }, `and ${(leftOut.length - 50).toLocaleString()} more`) : null)));
  }
  chosen.replaceChildren(...parts);
  button.disabled = !selection || Boolean(running);
}

async function walk(entry, prefix, out) {
  if (entry.isFile) {
    out.push({ path: prefix + entry.name, file: await new Promise((resolve, reject) => entry.file(resolve, reject)) });
    return;
  }
  const reader = entry.createReader();
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject)); // at most 100 per call
    if (!batch.length) return;
    for (const child of batch) await walk(child, `${prefix}${entry.name}/`, out);
  }
}

function fromDrop(dataTransfer) {
  // The entries must be taken before the first await: the DataTransfer empties once the event handler returns.
  const entries = [...dataTransfer.items].filter((i) => i.kind === "file").map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  const plain = [...dataTransfer.files].map((file) => ({ path: file.name, file }));
  if (!entries.length) return choose(plain, false);
  chosen.hidden = false;
  chosen.replaceChildren(h("p", { class: "muted" }, "Reading the folder…"));
  const files = [];
  return Promise.all(entries.map((e) => walk(e, "", files)))
    .then(() => choose(files.sort((a, b) => a.path.localeCompare(b.path)), entries.some((e) => e.isDirectory)))
    .catch((e) => render(`The dropped folder could not be read: ${e.message || e}`));
}

// A file dropped beside the zone would otherwise replace this page with the file.
for (const type of ["dragover", "drop"]) document.addEventListener(type, (event) => { if (!zone.contains(event.target)) event.preventDefault(); });
// Leaving while packing or sending loses the upload (an import already sent runs on without the page).
window.addEventListener("beforeunload", (event) => { if (running?.abort) event.preventDefault(); });
zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (event) => {
  event.preventDefault();
  zone.classList.remove("over");
  if (!running) fromDrop(event.dataTransfer);
});
document.getElementById("pick-file").addEventListener("change", (event) => {
  choose([...event.target.files].map((file) => ({ path: file.name, file })), false);
  event.target.value = "";
});
document.getElementById("pick-folder").addEventListener("change", (event) => {
  choose([...event.target.files].map((file) => ({ path: file.webkitRelativePath || file.name, file })), true);
  event.target.value = "";
});
zone.addEventListener("keydown", (event) => {
  if (event.key === "Enter" || event.key === " ") { event.preventDefault(); document.getElementById("pick-file").click(); }
});

function syncOptions() {
  gold.disabled = labels.checked;
  labels.disabled = gold.checked;
}
gold.addEventListener("change", syncOptions);
labels.addEventListener("change", syncOptions);

function send(blob, name, fields) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    running = { abort: () => xhr.abort() };
    xhr.open("POST", `${config.api}imports/`);
    xhr.setRequestHeader("X-CSRFToken", config.csrf);
    xhr.setRequestHeader("Accept", "application/json");
    const started = performance.now();
    xhr.upload.addEventListener("progress", (event) => {
      const total = event.lengthComputable ? event.total : blob.size;
      const rate = event.loaded / Math.max(0.001, (performance.now() - started) / 1000);
      setBar("send", event.loaded / total, `${fmtBytes(event.loaded)} / ${fmtBytes(total)} · ${fmtBytes(rate)}/s`);
    });
    xhr.upload.addEventListener("load", () => setBar("send", 1, "sent; the server is storing the file…"));
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON: a proxy's error page */ }
      if (xhr.status === 202) {
        setBar("send", 1, `${name} · ${fmtBytes(blob.size)} sent`);
        resolve(body);
      }
      else reject(new ApiError(xhr.status, body));
    });
    xhr.addEventListener("error", () => reject(new Error("The upload was interrupted (network error); nothing was imported.")));
    xhr.addEventListener("abort", () => reject(new DOMException("The upload was cancelled; nothing was imported.", "AbortError")));
    const data = new FormData();
    data.append("file", blob, name);
    for (const [k, v] of Object.entries(fields)) data.append(k, v);
    xhr.send(data);
  });
}

function problemText(e) {
  const details = e.body?.error?.details;
  if (details && typeof details === "object" && !Array.isArray(details)) {
    const fields = Object.entries(details).map(([k, v]) => `${k.replaceAll("_", " ")}: ${[].concat(v).join(" ")}`);
    if (fields.length) return `${e.message} (${fields.join("; ")})`;
  }
  return e.status === 413 ? "The server refused a file this large." : e.message;
}

function jobShare(job) {
  return job.status === "succeeded" ? 1 : job.progress_total ? job.progress_done / job.progress_total : 0;
}

async function follow(jobId, { uploaded = false } = {}) {
  progress.hidden = false;
  progress.classList.toggle("following", !uploaded);
  running = { job: jobId };
  cancelButton.hidden = false;
  cancelButton.disabled = false;
  for (;;) {
    const job = await api(`/api/jobs/${jobId}/`);
    const stage = job.status === "running" && job.cancel_requested_at ? "stopping…" : job.stage || job.status;
    setBar("job", jobShare(job), LIVE.has(job.status)
      ? `${stage}${job.progress_total ? ` · ${job.progress_done.toLocaleString()} / ${job.progress_total.toLocaleString()}` : ""}`
      : job.status === "cancelled" ? `cancelled at ${job.progress_done.toLocaleString()} / ${job.progress_total.toLocaleString()}` : job.status,
      `Import #${job.id}`);
    document.getElementById("job-bar").dataset.status = job.status;
    if (!LIVE.has(job.status)) break;
    await new Promise((r) => setTimeout(r, 700));
  }
  cancelButton.hidden = true;
  running = null;
  button.disabled = !selection;
  await Promise.all([openReport(jobId, { scroll: true }), refreshImports(0)]);
}

cancelButton.addEventListener("click", async () => {
  if (!running) return;
  cancelButton.disabled = true;
  if (running.abort) return running.abort();
  try {
    await api(`/api/jobs/${running.job}/cancel/`, { method: "POST" });
    toast(`Cancelling import #${running.job}: what it stored is removed.`);
  } catch (e) {
    toast(e.message, "bad");
    cancelButton.disabled = false;
  }
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!selection || running) return;
  showError("");
  button.disabled = true;
  progress.hidden = false;
  cancelButton.hidden = false;
  cancelButton.disabled = false;
  for (const id of ["pack", "send", "job"]) setBar(id, 0, "");
  const fields = {
    format: form.format.value, split: form.split.value.trim(), cropped: form.cropped.checked,
    labels_as_answers: form.labels_as_answers.checked, votes_as_answers: form.votes_as_answers.checked,
    gold_from_reference: form.gold_from_reference.checked,
  };
  const packing = !selection.file;
  progress.classList.toggle("packing", packing);
  progress.classList.remove("following");
  try {
    let blob = selection.file;
    if (packing) {
      const controller = new AbortController();
      running = { abort: () => controller.abort() };
      let last = 0;
      blob = await zipFiles(selection.entries, {
        signal: controller.signal,
        onProgress: (done, total, files) => {
          if (performance.now() - last < 100 && files < selection.entries.length) return;
          last = performance.now();
          setBar("pack", total ? done / total : 1, `${files.toLocaleString()} / ${selection.entries.length.toLocaleString()} files · ${fmtBytes(done)}`);
        },
      });
      setBar("pack", 1, `${plural(selection.entries.length, "file")} in ${selection.name} (${fmtBytes(blob.size)})`);
    }
    const job = await send(blob, selection.name, fields);
    history.replaceState(null, "", `?job=${job.id}`);
    refreshImports(0).catch(() => {});
    await follow(job.id, { uploaded: true });
  } catch (e) {
    running = null;
    cancelButton.hidden = true;
    showError(e.name === "AbortError" ? e.message : problemText(e));
    button.disabled = !selection;
  }
});

onReportOpen((detail) => {
  if (LIVE.has(detail.status) && !running) follow(detail.id).catch((e) => toast(e.message, "bad"));
});

syncOptions();
refreshImports(0)
  .then(() => (config.job ? openReport(config.job) : null))
  .catch((e) => toast(e.message, "bad"))
  .finally(() => { document.body.dataset.ready = "1"; });

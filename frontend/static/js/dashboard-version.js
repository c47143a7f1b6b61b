// A version's page: class balance, splits, downloads (each format built by an export job, with its progress).
import { api, config, h, toast } from "./dashboard.js";
import { barChart, labelColor, shortLabel } from "./charts.js";
import "./face-erase.js";  // its stylesheet: the erased-face notes

const FORMATS = [
  ["fer2013-csv", "FER2013 CSV", "emotion,pixels,Usage; FER2013's seven classes"],
  ["ferplus-csv", "FER+ votes CSV", "fer2013new.csv's columns: vote counts per class"],
  ["imagefolder", "Image folders (zip)", "split/class/<id>.png, for ImageFolder and image_dataset_from_directory"],
  ["parquet", "Hugging Face Parquet (zip)", "data/<split>-*.parquet with images, soft labels and quality columns"],
  ["jsonl", "JSON Lines (zip)", "one face per line, the image beside it"],
  ["label-studio", "Label Studio JSON", "one task per face, every answer as an annotation"],
];
const LIVE = new Set(["queued", "running"]);
let timer = null;

function drawStats() {
  const stats = config.stats || {};
  const perClass = stats.per_class || {};
  barChart(document.getElementById("chart-balance"), {
    bars: config.labels.filter((l) => perClass[l]).map((l) => ({ label: shortLabel(l), value: perClass[l], color: labelColor(config.labels, l), title: `${l}: ${perClass[l]} faces` })),
    title: "Class balance of the version",
  });
  const perSplit = stats.per_split || {};
  const splits = Object.keys(perSplit);
  const labels = config.labels.filter((l) => splits.some((s) => perSplit[s][l]));
  document.getElementById("splits").replaceChildren(h("table", { class: "split-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "class"), ...splits.map((s) => h("th", { class: "num" }, s)))),
    h("tbody", {}, ...labels.map((l) => h("tr", {}, h("td", {}, l), ...splits.map((s) => h("td", { class: "num" }, (perSplit[s][l] || 0).toLocaleString())))))));
}

function exportState(exp) {
  if (!exp) return { status: "none" };
  const job = exp.job || {};
  return { status: exp.status || job.status || "none", done: job.progress_done || 0, total: job.progress_total || 0, stage: job.stage || "", error: job.error || "" };
}

async function build(format, button) {
  button.disabled = true;
  try {
    await api(`/api/versions/${config.version}/exports/`, { method: "POST", body: { format } });
  } catch (e) {
    toast(e.message, "bad");
  }
  refresh();
}

function row([format, label, what], exp) {
  const state = exportState(exp);
  const share = state.status === "succeeded" ? 1 : state.total ? state.done / state.total : 0;
  const cell = h("td", { class: "download-state" });
  if (exp?.download_url) {
    cell.append(h("a", { class: "button primary small", href: exp.download_url, "data-download": format, download: "" }, "Download"),
      h("span", { class: "muted small" }, ` ${(exp.size / 1024 / 1024).toFixed(exp.size > 1e6 ? 1 : 2)} MB`));
  } else if (LIVE.has(state.status)) {
    cell.append(h("div", { class: "progress", role: "progressbar", "aria-label": `${label} export`, "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": Math.round(share * 100) },
      h("span", { style: `width:${(share * 100).toFixed(1)}%` })), h("span", { class: "muted small" }, ` ${state.stage || state.status}`));
    if (exp.job && !exp.job.cancel_requested_at) {
      const cancel = h("button", { type: "button", class: "button small", "data-cancel": format }, "Cancel");
      cancel.addEventListener("click", async () => {
        cancel.disabled = true;
        try { await api(`/api/jobs/${exp.job.id}/cancel/`, { method: "POST" }); } catch (e) { toast(e.message, "bad"); }
        refresh();
      });
      cell.append(" ", cancel);
    }
  } else {
    const button = h("button", { type: "button", class: "button small", "data-build": format }, state.status === "failed" ? "Build again" : "Build");
    button.addEventListener("click", () => build(format, button));
    cell.append(button);
    if (state.status === "failed") cell.append(h("span", { class: "bad small" }, ` failed: ${state.error}`));
    if (state.status === "cancelled") cell.append(h("span", { class: "muted small" }, " cancelled"));
  }
  const erased = exp?.erased_items ? h("div", { class: "erased-in-file small", "data-erased": exp.erased_items },
    `contains ${exp.erased_items} erased face${exp.erased_items === 1 ? "" : "s"} (images removed)`) : null;
  return h("tr", { "data-format": format, class: state.status }, h("td", {}, h("strong", {}, label), h("div", { class: "muted small" }, what), erased), cell);
}

// Faces erased on request: a line above the downloads, and the data card's section on them (the frozen card is kept).
function showErased({ erased_faces: n = 0, erased_note: note = "" }) {
  let line = document.getElementById("erased-faces");
  if (!n) { line?.remove(); return; }
  if (!line) {
    line = h("p", { id: "erased-faces", class: "erased-in-file small" });
    document.getElementById("downloads").before(line);
  }
  line.textContent = `This version contains ${n} erased face${n === 1 ? "" : "s"} (images removed): labels, votes and quality `
    + "scores stay and the content hash is unchanged; no file holds their pixels (a file built before is rebuilt without them).";
  const card = document.getElementById("data-card");
  const heading = note.split("\n")[0];
  if (card && note && !card.textContent.includes(heading)) card.textContent = `${card.textContent.trimEnd()}\n\n${note}`;
  else if (card && note && !card.textContent.includes(note)) card.textContent = card.textContent.slice(0, card.textContent.indexOf(heading)) + note;
}

async function refresh() {
  clearTimeout(timer);
  let exports = [], data = [];
  try {
    data = await api(`/api/versions/${config.version}/exports/`);
    exports = Array.isArray(data) ? data : data.results || [];
  } catch (e) {
    if (e.status !== 404) toast(e.message, "bad");
  }
  if (!Array.isArray(data)) showErased(data);
  const byFormat = Object.fromEntries(exports.map((e) => [e.format, e]));
  document.querySelector("#downloads tbody").replaceChildren(...FORMATS.map((f) => row(f, byFormat[f[0]])));
  const live = exports.some((e) => LIVE.has(exportState(e).status));
  timer = setTimeout(refresh, live ? 1000 : 10000);
  document.body.dataset.ready = "1";
}

drawStats();
refresh();

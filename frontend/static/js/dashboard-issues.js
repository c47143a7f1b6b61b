// Label-issue queue: server-side filters and paging, keyboard-driven review (every decision is a Review row).
import { api, config, h, num, pct, toast } from "./dashboard.js";
import { labelColor, stackedBar } from "./charts.js";
import { eraseButton, faceTile } from "./face-erase.js";
import { goldBadge, goldPanel, provenance, referenceCell, sourceBadge } from "./issues-labels.js";
import { refreshFacets, refreshFacetsSoon } from "./issues-filters.js";
import { dimensionLines } from "./issues-dimensions.js";

const LABELS = config.labels;
const PAGE = 50;
const FILTERS = ["label", "annotator", "flag", "split", "state", "source", "answers", "reference", "agreement", "gold", "check"];
const form = document.getElementById("filters");
const tbody = document.querySelector("#issues tbody");
// after / before: the face the page starts after or ends before (paging by key, the same cost at any depth; offset
// then only numbers the rows); both 0 page by offset (the server goes only 10,000 rows deep that way).
let rows = [], selected = 0, offset = 0, after = 0, before = 0, nextAfter = null, hasMore = false, countExact = true, countRange = null, count = 0, busy = false, runId = null, unanswered = 0, facetKey = null;

function filtersFromUrl() {
  const q = new URLSearchParams(location.search);
  for (const name of FILTERS) if (form.elements[name]) form.elements[name].value = q.get(name) || "";
  const [a = "", b = ""] = (q.get("pair") || "").split(",");
  form.elements.pair_a.value = a;
  form.elements.pair_b.value = b;
  offset = Math.max(0, parseInt(q.get("offset") || "0", 10) || 0);
  after = Math.max(0, parseInt(q.get("after") || "0", 10) || 0);
  before = after ? 0 : Math.max(0, parseInt(q.get("before") || "0", 10) || 0);
}

function filterParams() {
  const f = form.elements;
  const pair = f.pair_a.value && f.pair_b.value && f.pair_a.value !== f.pair_b.value ? `${f.pair_a.value},${f.pair_b.value}` : "";
  return { ...Object.fromEntries(FILTERS.map((name) => [name, f[name]?.value ?? ""])), pair };  // no check filter: no VA / AUs asked
}

function chip(label, extra = "") {
  if (!label) return h("span", { class: "muted" }, "–");
  return h("span", { class: `chip ${extra}`, style: `--chip:${labelColor(LABELS, label)}` }, label.replace("_", " "));
}

// The label the face carries now, where it comes from, and the review in force.
function finalCell(row) {
  const state = row.state;
  const who = row.review ? `${row.review.by}, ${new Date(row.review.at).toLocaleString()}` : "";
  const badges = h("div", { class: "cell-line" }, sourceBadge(row), goldBadge(LABELS, row));
  if (state === "accepted" || state === "relabelled") return [h("span", { class: `state ${state}`, title: `${state} by ${who}` }, chip(row.final_label, "final"), h("small", {}, state === "accepted" ? " accepted" : " relabelled")), badges];
  const words = { open: "", excluded: "excluded", more_requested: `+${row.extra_answers} answer${row.extra_answers === 1 ? "" : "s"} requested`, reopened: "reopened" };
  const label = row.current_label ? chip(row.current_label) : null;
  return [h("span", { class: `state ${state}`, title: who }, label, words[state] ? h("small", {}, ` ${words[state]}`) : null), badges];
}

function voteText(votes) {
  return Object.entries(votes).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).map(([l, n]) => `${l.replace("_", " ")} ${n}`).join(" · ");
}

function renderRow(row, i) {
  const quality = row.consensus_quality;
  const answered = row.num_answers > 0;
  const tr = h("tr", { "data-item": row.item, "data-state": row.state, "data-source": row.label_source, "data-gold": row.is_gold ? "1" : "0",
    class: i === selected ? "selected" : "", onclick: () => select(i) },
    h("td", { class: "rank" }, row.rank, h("small", {}, `#${row.item}`), row.split ? h("small", {}, row.split) : null),
    h("td", {}, faceTile(row)),
    h("td", { class: "votes-cell" }, answered ? stackedBar(row.votes, LABELS, { width: 110 }) : h("span", { class: "muted small" }, "no answers"),
      h("div", { class: "small muted" }, voteText(row.votes)),
      row.annotator_label ? h("div", { class: "small" }, "their answer: ", chip(row.annotator_label)) : null),
    h("td", { class: "consensus" }, answered ? chip(row.consensus_label) : h("span", { class: "muted small" }, "none"),
      row.label_issue ? h("span", { class: "flag", title: "Cleanlab flags this label" }, "issue") : null,
      quality === null || !answered ? null : h("div", { class: "quality", title: `consensus quality ${num(quality, 3)}` }, h("span", { style: `width:${(quality * 100).toFixed(0)}%` })),
      quality === null || !answered ? null : h("div", { class: "small" }, num(quality, 3)), dimensionLines(row)),
    h("td", { class: "reference" }, referenceCell(LABELS, row)),
    h("td", {}, chip(row.model_label), h("div", { class: "small muted" }, row.model_confidence === null ? "" : pct(row.model_confidence))),
    h("td", { class: "final" }, finalCell(row)),
  );
  return tr;
}

function render() {
  tbody.replaceChildren(...rows.map(renderRow));
  const empty = document.getElementById("issues-empty");
  empty.classList.toggle("hidden", rows.length > 0);
  const order = ["model", "none"].includes(form.elements.source.value) ? "least confident model first" : "worst consensus quality first";
  // Past a few thousand faces the server estimates the count from a sample: say so, with its 95 % interval.
  const about = countExact ? "" : "about ";
  const range = countExact || !countRange ? "" : ` (95 % interval ${countRange[0].toLocaleString()}–${countRange[1].toLocaleString()})`;
  document.getElementById("issue-count").textContent = `${about}${count.toLocaleString()} face${count === 1 ? "" : "s"} match${range} · ${order}`;
  const note = document.getElementById("unanswered-note");
  note.classList.toggle("hidden", !unanswered);
  note.replaceChildren(unanswered ? `${unanswered.toLocaleString()} face${unanswered === 1 ? "" : "s"} with no answers ${unanswered === 1 ? "is" : "are"} not ranked here.` : "",
    unanswered ? h("button", { type: "button", class: "button", onclick: () => { form.elements.answers.value = "any"; offset = 0; after = 0; before = 0; load(); } }, "Show them too") : "");
  document.getElementById("page-info").textContent = rows.length ? `${offset + 1}–${offset + rows.length} of ${about}${count.toLocaleString()}` : "";
  document.getElementById("prev-page").disabled = offset === 0;
  document.getElementById("next-page").disabled = !hasMore;
}

async function load({ keepSelection = false } = {}) {
  const params = { ...filterParams(), offset, limit: PAGE, ...(after ? { after } : before ? { before } : {}) };
  // The key stays in the address, so a reload at any depth is a seek too.
  history.replaceState(null, "", `?${new URLSearchParams(Object.entries(params).filter(([k, v]) => v && !(k === "limit") && !(k === "offset" && v === 0)))}`);
  try {
    const page = await api("issues/", { params });
    rows = page.results;
    count = page.count;
    countExact = page.count_exact;
    countRange = [page.count_low, page.count_high];
    hasMore = page.has_more;
    nextAfter = page.next_after;
    unanswered = page.unanswered_left_out;
    runId = page.run;
    if (!keepSelection) selected = 0;
    selected = Math.min(selected, Math.max(0, rows.length - 1));
  } catch (e) {
    rows = [];
    count = 0;
    hasMore = false;
    unanswered = 0;
    document.getElementById("issues-empty").textContent = e.code === "no_quality_run" ? "No quality run has finished yet: start one on the overview page." : e.message;
  }
  if (!rows.length && !document.getElementById("issues-empty").textContent) document.getElementById("issues-empty").textContent = "No items match these filters.";
  render();
  scrollToSelected();
  inspect();
  const key = JSON.stringify(filterParams());
  if (key !== facetKey) { facetKey = key; refreshFacets(form, filterParams()); }
  document.body.dataset.ready = "1";
}

function scrollToSelected() {
  tbody.children[selected]?.scrollIntoView({ block: "nearest" });
}

function select(i) {
  if (!rows.length) return;
  const next = Math.max(0, Math.min(rows.length - 1, i));
  tbody.children[selected]?.classList.remove("selected");
  selected = next;
  tbody.children[selected]?.classList.add("selected");
  scrollToSelected();
  inspect();
}

// The inspector shows the selected face larger, each live answer with who gave it, and the review history.
let inspectTimer = null;
function inspect() {
  clearTimeout(inspectTimer);
  const row = rows[selected];
  if (!row) return;
  inspectTimer = setTimeout(async () => {
    try {
      const [answers, reviews] = await Promise.all([api(`items/${row.item}/answers/`), api(`items/${row.item}/reviews/`)]);
      if (rows[selected] !== row) return;  // the lead moved on meanwhile
      const panel = document.getElementById("inspector");
      panel.dataset.item = row.item;
      panel.replaceChildren(
        faceTile(row, { big: true }),
        eraseButton(row, () => { const i = rows.indexOf(row); if (i >= 0) tbody.children[i].replaceWith(renderRow(row, i)); inspect(); }),
        h("div", { class: "facts" }, h("span", {}, `#${row.item}`), h("span", {}, row.split || ""), h("span", {}, `${row.num_answers} answers`)),
        provenance(LABELS, row),
        goldPanel(LABELS, row, goldChanged),
        h("h3", {}, "Answers"),
        h("ul", {}, answers.map((a) => h("li", {}, h("span", { class: "who" }, a.annotator__username),
          h("span", {}, chip(a.label), a.flags.length ? h("small", { class: "muted" }, ` ${a.flags.join(", ")}`) : null)))),
        h("h3", {}, "Reviews"),
        reviews.length ? h("ul", {}, reviews.slice(0, 6).map((r) => h("li", {},
          h("span", { class: "who", title: new Date(r.created_at).toLocaleString() }, `${r.reviewer__username}`),
          h("span", {}, r.label ? chip(r.label) : h("small", {}, r.action.replace("_", " ")))))) : h("p", { class: "muted small" }, "None yet."),
      );
    } catch (e) { /* the table stays usable without the inspector */ }
  }, 120);
}

// A face's gold state changed from the inspector: redraw its row and the inspector, and the counts beside the filters.
function goldChanged(row) {
  const index = rows.indexOf(row);
  if (index >= 0) tbody.children[index]?.replaceWith(renderRow(row, index));
  if (rows[selected] === row) inspect();
  refreshFacets(form, filterParams());
}

// Items decided on this page, newest last: `u` undoes the latest decision wherever the cursor is.
const decided = [];

async function decide(action, label = "") {
  if (busy) return;
  if (action === "undo") {
    const index = rows.findIndex((r) => r.item === decided.at(-1));
    if (index >= 0) { decided.pop(); select(index); }
  }
  const row = rows[selected];
  if (!row) return;
  busy = true;
  try {
    const r = await api("reviews/", { method: "POST", body: { item: row.item, action, label, quality_run: runId } });
    // The server's review state decides between the review and the source beneath it (both computed by the selector).
    const settled = r.final_label !== null;
    Object.assign(row, { state: r.state, final_label: r.final_label, excluded: r.excluded, extra_answers: r.extra_answers,
      label_source: settled ? "review" : row.unreviewed_source, current_label: settled ? r.final_label : row.unreviewed_label,
      review: { id: r.review, action: r.action, label: r.label, by: document.querySelector(".who span")?.textContent || "you", at: new Date().toISOString() } });
    tbody.children[selected].replaceWith(renderRow(row, selected));
    refreshFacetsSoon(form, filterParams());
    if (action === "undo") inspect();
    else if (selected === rows.length - 1 && hasMore) { decided.push(row.item); nextPage(); await load(); }
    else { decided.push(row.item); select(selected + 1); }
  } catch (e) {
    toast(e.message, "bad");
  } finally {
    busy = false;
  }
}

const KEY_LABEL = Object.fromEntries(LABELS.slice(0, 10).map((l, i) => [String((i + 1) % 10), l]));

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.target.closest("input, select, textarea")) return;
  const key = event.key;
  if (key === "j" || key === "ArrowDown") select(selected + 1);
  else if (key === "k" || key === "ArrowUp") select(selected - 1);
  else if (key === "a") decide("accept");
  else if (key === "x") decide("exclude");
  else if (key === "m") decide("request_more");
  else if (key === "u") decide("undo");
  else if (key in KEY_LABEL) decide("relabel", KEY_LABEL[key]);
  else if (key === "]" || key === "PageDown") document.getElementById("next-page").click();
  else if (key === "[" || key === "PageUp") document.getElementById("prev-page").click();
  else return;
  event.preventDefault();
});

// The next page starts after the last face shown, the previous one ends before the first: index seeks at any depth.
function nextPage() { offset += PAGE; after = nextAfter || 0; before = 0; }
function prevPage() { offset = Math.max(0, offset - PAGE); after = 0; before = offset && rows.length ? rows[0].item : 0; }
form.addEventListener("change", () => { offset = 0; after = 0; before = 0; load(); });
form.addEventListener("submit", (e) => e.preventDefault());
document.getElementById("prev-page").addEventListener("click", () => { if (offset > 0) { prevPage(); load(); } });
document.getElementById("next-page").addEventListener("click", () => { if (hasMore) { nextPage(); load(); } });

filtersFromUrl();
load();

// The diff page: faces added and removed, final labels changed (from -> to, each opening its faces), split moves, balance.
import { api, config, h, toast } from "./dashboard.js";
import { faceTile } from "./face-erase.js";

let erased = new Set();

const select = document.getElementById("against");

function stat(label, value, sub = "") {
  return h("div", { class: "stat card" }, h("span", { class: "stat-label" }, label), h("span", { class: "stat-value" }, value),
    h("span", { class: "stat-sub" }, sub));
}

function showFaces(title, ids, count) {
  document.getElementById("faces-title").textContent = title;
  const grid = document.getElementById("faces");
  grid.replaceChildren(...ids.map((id) => h("figure", { class: "face-cell" },
    erased.has(id) ? faceTile({ item: id, erased: true })
      : h("img", { class: "face", src: `/api/items/${id}/image`, alt: `face ${id}`, width: 72, height: 72, loading: "lazy" }),
    h("figcaption", { class: "muted small" }, `#${id}`))));
  if (count > ids.length) grid.append(h("p", { class: "muted small" }, `The first ${ids.length} of ${count.toLocaleString()} shown.`));
}

function render(diff) {
  erased = new Set(diff.erased_items || []);
  document.getElementById("diff-summary").replaceChildren(
    stat("Faces", `${diff.old.faces.toLocaleString()} → ${diff.new.faces.toLocaleString()}`, `v${diff.old.number} → v${diff.new.number}`),
    stat("Added", diff.added.toLocaleString(), "faces new in this version"),
    stat("Removed", diff.removed.toLocaleString(), "faces left out now"),
    stat("Labels changed", diff.label_changed.toLocaleString(), "faces in both with another final label"));
  const body = document.querySelector("#label-changes tbody");
  body.replaceChildren(...diff.label_changes.map((c) => {
    const row = h("tr", { class: "clickable", tabindex: 0, "data-from": c.from, "data-to": c.to },
      h("td", {}, c.from), h("td", { class: "muted" }, "→"), h("td", {}, c.to), h("td", { class: "num" }, c.count.toLocaleString()));
    const open = () => showFaces(`${c.count.toLocaleString()} ${c.from} → ${c.to}`, c.items, c.count);
    row.addEventListener("click", open);
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
    return row;
  }));
  if (!diff.label_changes.length) body.append(h("tr", {}, h("td", { colspan: 4, class: "empty" }, "No final label changed.")));
  if (diff.added) body.append(h("tr", { class: "clickable" }, h("td", { colspan: 3 }, "added faces"), h("td", { class: "num" }, diff.added)));
  if (diff.removed) body.append(h("tr", { class: "clickable" }, h("td", { colspan: 3 }, "removed faces"), h("td", { class: "num" }, diff.removed)));
  body.querySelectorAll("tr.clickable").forEach((row) => {
    if (row.textContent.startsWith("added")) row.addEventListener("click", () => showFaces("Added faces", diff.added_items, diff.added));
    if (row.textContent.startsWith("removed")) row.addEventListener("click", () => showFaces("Removed faces", diff.removed_items, diff.removed));
  });
  const order = (l) => (config.labels.includes(l) ? config.labels.indexOf(l) : 99);
  diff.class_balance.sort((a, b) => order(a.label) - order(b.label));
  const max = Math.max(1, ...diff.class_balance.map((r) => Math.max(r.old, r.new)));
  document.getElementById("balance").replaceChildren(h("table", { class: "balance-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "class"), h("th", { class: "num" }, `v${diff.old.number}`), h("th", { class: "num" }, `v${diff.new.number}`), h("th", { class: "num" }, "change"), h("th", {}, ""))),
    h("tbody", {}, ...diff.class_balance.map((r) => h("tr", {},
      h("td", {}, r.label), h("td", { class: "num" }, r.old.toLocaleString()), h("td", { class: "num" }, r.new.toLocaleString()),
      h("td", { class: `num ${r.change > 0 ? "ok" : r.change < 0 ? "bad" : ""}` }, r.change > 0 ? `+${r.change}` : String(r.change)),
      h("td", {}, h("div", { class: "pair-bars" },
        h("span", { class: "old", style: `width:${(r.old / max) * 100}%` }), h("span", { class: "new", style: `width:${(r.new / max) * 100}%` }))))))));
  document.getElementById("split-moves").replaceChildren(diff.split_moves.length
    ? h("ul", { class: "plain" }, ...diff.split_moves.map((m) => h("li", {}, `${m.count.toLocaleString()} faces ${m.from} → ${m.to}`)))
    : h("p", { class: "muted" }, "No face changed split."));
}

async function load(against) {
  try {
    render(await api(`/api/versions/${config.version}/diff/`, { params: { against } }));
  } catch (e) {
    document.getElementById("diff-summary").replaceChildren(h("p", { class: "bad" }, e.message));
  }
  document.body.dataset.ready = "1";
}

async function init() {
  const versions = (await api("versions/")).filter((v) => v.id !== config.version);
  select.replaceChildren(...versions.map((v) => h("option", { value: v.id }, `v${v.number}`)));
  const older = versions.find((v) => v.id === config.against) || versions.find((v) => v.id < config.version) || versions[0];
  if (older) select.value = older.id;
  select.addEventListener("change", () => load(select.value));
  await load(older ? older.id : "");
}

init().catch((e) => toast(e.message, "bad"));

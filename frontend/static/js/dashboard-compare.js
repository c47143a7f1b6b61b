// Two model versions side by side: confusion matrices, recall per class (B minus A), and the faces they disagree on.
import { api, config, h, num, pct, toast } from "./dashboard.js";
import { shortLabel } from "./charts.js";
import { faceTile } from "./face-erase.js";

const form = document.getElementById("compare-form");
const errorText = (e) => e.body?.detail || e.message;

function stat(label, model, e) {
  return h("div", { class: "stat card" }, h("span", { class: "stat-label" }, label),
    h("span", { class: "stat-value small-value" }, model.name, model.active ? h("span", { class: "badge ok" }, "active") : null, model.shipped ? h("span", { class: "badge info" }, "shipped") : null),
    h("span", { class: "stat-sub" }, e ? `accuracy ${pct(e.accuracy_final, 1)} (votes ${pct(e.accuracy_majority, 1)}) · macro-F1 ${num(e.macro_f1, 3)} · ECE ${num(e.ece, 3)}` : "not scored"),
    e ? h("span", { class: "stat-sub" }, `${e.n.toLocaleString()} faces scored, ${e.excluded_trained.toLocaleString()} left out as trained on`) : null,
    e?.low_evidence ? h("span", { class: "stat-sub thin" }, `⚠ only ${e.n_final} faces with a final label: figures are thin`) : null);
}

// A confusion matrix as table cells: shaded by the row's share (so rare classes read as clearly as common ones), counts written.
function confusion(container, classes, matrix, name) {
  const table = h("table", { class: "confusion", "aria-label": `Confusion matrix of ${name}` },
    h("thead", {}, h("tr", {}, h("th", { class: "corner" }, "final ↓ · predicted →"), ...classes.map((c) => h("th", { class: "col", title: c }, h("span", {}, shortLabel(c)))), h("th", { class: "num" }, "n"))),
    h("tbody", {}, ...classes.map((truth, i) => {
      const row = matrix[i] || [];
      const total = row.reduce((s, v) => s + v, 0);
      return h("tr", { "data-class": truth }, h("th", { class: "row" }, shortLabel(truth)),
        ...classes.map((predicted, j) => {
          const v = row[j] || 0, share = total ? v / total : 0;
          const hue = i === j ? "31,157,85" : "197,48,48";
          return h("td", { class: `cell${share > 0.5 ? " light" : ""}`, style: v ? `background:rgba(${hue},${(0.08 + 0.92 * share).toFixed(3)})` : "",
            title: `${truth} → ${predicted}: ${v} face${v === 1 ? "" : "s"} (${(share * 100).toFixed(1)}% of the row)` }, v ? v.toLocaleString() : "");
        }),
        h("td", { class: "num muted" }, total.toLocaleString()));
    })));
  container.replaceChildren(table);
}

function recallBars(perClass) {
  const max = Math.max(0.05, ...perClass.map((r) => Math.abs(r.diff ?? 0)));
  return h("table", { class: "recall-diff" },
    h("thead", {}, h("tr", {}, h("th", {}, "class"), h("th", { class: "num" }, "A"), h("th", { class: "num" }, "B"), h("th", { class: "bars" }, "B − A"), h("th", { class: "num" }, "change"), h("th", { class: "num" }, "faces"))),
    h("tbody", {}, ...perClass.map((r) => {
      const d = r.diff ?? 0, w = (Math.abs(d) / max) * 50;
      const bar = r.diff === null || r.diff === undefined ? null
        : h("span", { class: `bar ${d >= 0 ? "up" : "down"}`, style: `${d >= 0 ? "left:50%" : `left:${50 - w}%`};width:${w}%` });
      return h("tr", { "data-class": r.class },
        h("td", {}, r.class), h("td", { class: "num" }, pct(r.recall_a, 1)), h("td", { class: "num" }, pct(r.recall_b, 1)),
        h("td", { class: "bars" }, h("div", { class: "diverging" }, h("span", { class: "zero" }), bar)),
        h("td", { class: `num ${d > 0 ? "ok" : d < 0 ? "bad" : ""}` }, r.diff === null || r.diff === undefined ? "–" : `${d > 0 ? "+" : ""}${(d * 100).toFixed(1)} pt`),
        h("td", { class: `num${r.support < 10 ? " warn" : ""}`, title: r.support < 10 ? "few faces: the recall moves a lot with one face" : "" }, (r.support ?? 0).toLocaleString()));
    })));
}

function face(item) {
  const answer = (who, label, confidence) => h("div", { class: `answer ${item.truth && label === item.truth ? "right" : "wrong"}` },
    h("span", { class: "mark" }, who), ` ${label} `, h("span", { class: "muted" }, pct(confidence)));
  return h("figure", { class: "face-cell disagree", "data-item": item.item },
    item.image_url ? h("img", { class: "face", src: item.image_url, alt: `face ${item.item}`, width: 72, height: 72, loading: "lazy" })
      : faceTile({ item: item.item, erased: true }),
    h("figcaption", { class: "small" }, h("div", { class: "truth" }, item.truth ? `final: ${item.truth}` : h("span", { class: "muted" }, "no final label")),
      answer("A", item.a_label, item.a_confidence), answer("B", item.b_label, item.b_confidence)));
}

function render(data) {
  const { a, b } = data;
  document.getElementById("compare-summary").replaceChildren(stat("A", a, a.evaluation), stat("B", b, b.evaluation),
    h("div", { class: "stat card" }, h("span", { class: "stat-label" }, "They disagree on"), h("span", { class: "stat-value", id: "disagree-count" }, data.disagreements.count.toLocaleString()),
      h("span", { class: "stat-sub" }, `of ${(data.disagreements.compared ?? Math.min(a.evaluation?.n ?? 0, b.evaluation?.n ?? 0)).toLocaleString()} faces both scored`)));
  document.getElementById("confusion-a-title").textContent = `A · ${a.name}`;
  document.getElementById("confusion-b-title").textContent = `B · ${b.name}`;
  confusion(document.getElementById("confusion-a"), data.classes, a.evaluation?.confusion || [], a.name);
  confusion(document.getElementById("confusion-b"), data.classes, b.evaluation?.confusion || [], b.name);
  document.getElementById("recall-diff").replaceChildren(recallBars(data.per_class));
  const items = data.disagreements.items;
  document.getElementById("disagree-title").textContent = `Faces they disagree on (${data.disagreements.count.toLocaleString()})`;
  const grid = document.getElementById("disagreements");
  grid.replaceChildren(...items.map(face));
  if (!items.length) grid.append(h("p", { class: "empty" }, "They give every face the same label."));
  if (data.disagreements.count > items.length) grid.append(h("p", { class: "muted small" }, `The first ${items.length} of ${data.disagreements.count.toLocaleString()} shown.`));
}

async function init() {
  const registry = await api("models/");
  const options = (selected) => registry.results.map((m) => h("option", { value: m.id, selected: m.id === selected, disabled: m.evaluation_state !== "current" },
    `${m.name}${m.active ? " (active)" : ""}${m.evaluation_state !== "current" ? " · not scored" : ""}`));
  const scored = registry.results.filter((m) => m.evaluation_state === "current");
  const a = config.a ?? scored[0]?.id, b = config.b ?? scored.find((m) => m.id !== a)?.id;
  document.getElementById("pick-a").replaceChildren(...options(a));
  document.getElementById("pick-b").replaceChildren(...options(b));
  if (!a || !b) {
    document.getElementById("compare-error").replaceChildren(h("p", { class: "bad" }, "Two versions scored on the current evaluation set are needed: choose a set or Score all on the Models tab."));
    return;
  }
  try {
    render(await api("models/compare/", { params: { a, b } }));
  } catch (e) {
    document.getElementById("compare-error").replaceChildren(h("p", { class: "bad" }, errorText(e),
      e.code === "not_evaluated" ? " Score them on the Models tab first." : ""));
  }
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  window.location.search = `?a=${form.a.value}&b=${form.b.value}`;
});

init().catch((e) => toast(errorText(e), "bad")).finally(() => { document.body.dataset.ready = "1"; });

// Erased faces on the lead's pages: a tile where the face would be, and the Erase button with its confirm dialog.
import { api, h, toast } from "./dashboard.js";

// Its own small stylesheet, linked once (the CSP allows same-origin stylesheets, not inline styles).
if (!document.querySelector("link[data-erase-css]")) {
  document.head.append(h("link", { rel: "stylesheet", href: new URL("../css/erase.css", import.meta.url).href, "data-erase-css": "1" }));
}

// The face's image, or (erased faces) a tile saying so: nothing asks the server for an image that is gone.
export function faceTile(row, { big = false } = {}) {
  if (row.erased || !row.image) {
    return h("div", { class: big ? "erased-face big" : "erased-face face", role: "img", "aria-label": `face ${row.item}: erased`,
      title: "Erased on request: its images no longer exist; its answers are kept" }, h("span", {}, "erased"));
  }
  return big ? h("img", { class: "big", src: row.image, alt: `face ${row.item}` })
    : h("img", { class: "face", src: row.image, alt: `face ${row.item}`, width: 64, height: 64 });
}

function summary(result) {
  const files = result.files_removed.length + result.uploads_removed.length;
  const rebuilt = result.exports.filter((e) => e.rebuild_job).length;
  const parts = [`${files} file${files === 1 ? "" : "s"} removed`];
  if (rebuilt) parts.push(`${rebuilt} export${rebuilt === 1 ? "" : "s"} rebuilding without it`);
  parts.push(`${result.answers_kept} answer${result.answers_kept === 1 ? "" : "s"} kept`);
  return `Face #${result.item} erased: ${parts.join(", ")}.`;
}

function confirmDialog(row, onErased) {
  const reason = h("textarea", { name: "reason", rows: 3, maxlength: 1000, required: true, placeholder: "e.g. the person's request of 1 Dec, ticket 42" });
  const error = h("p", { class: "erase-error", role: "alert" });
  const erase = h("button", { type: "submit", class: "button danger", value: "erase" }, "Erase face");
  const cancel = h("button", { type: "submit", class: "button", value: "cancel", formnovalidate: true }, "Cancel");
  const form = h("form", { method: "dialog" },
    h("h2", { id: "erase-title" }, `Erase face #${row.item}?`),
    h("p", {}, "Its original photo, its crop and every copy in the built exports are deleted for good, and those exports are rebuilt without its pixels. ",
      "Its answers, reviews and quality scores stay, counted without an image. This cannot be undone."),
    h("label", { class: "field" }, "Reason (kept in the audit log)", reason),
    error,
    h("div", { class: "erase-actions" }, cancel, erase));
  const dialog = h("dialog", { class: "erase-dialog", "aria-labelledby": "erase-title" }, form);
  // The page's review keys (a, x, 1..9) must not act on the queue while the dialog is open.
  dialog.addEventListener("keydown", (event) => event.stopPropagation());
  dialog.addEventListener("close", () => dialog.remove());
  form.addEventListener("submit", async (event) => {
    if (event.submitter?.value !== "erase") return;  // Cancel closes the dialog
    event.preventDefault();
    erase.disabled = cancel.disabled = true;
    erase.textContent = "Erasing…";
    error.textContent = "";
    try {
      const result = await api(`items/${row.item}/erase/`, { method: "POST", body: { reason: reason.value.trim() } });
      Object.assign(row, { erased: true, image: null });
      dialog.close();
      toast(summary(result), "ok");
      onErased(result);
    } catch (e) {
      error.textContent = e.message;
      erase.disabled = cancel.disabled = false;
      erase.textContent = "Erase face";
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  reason.focus();
}

// The inspector's control: a button that asks first, or (erased already) a line saying what happened.
export function eraseButton(row, onErased) {
  if (row.erased) return h("p", { class: "erased-note small muted" }, "Erased on request: images removed everywhere, answers kept.");
  return h("p", { class: "erase-control" },
    h("button", { type: "button", class: "button danger small", "data-erase": row.item, onclick: () => confirmDialog(row, onErased) }, "Erase face…"));
}

// Audit log tab: who changed what, newest first, a page at a time ("Load more" continues after the last event).
import { api, config, h } from "./dashboard.js";

const GROUPS = {
  project: "project settings", member: "members", invitation: "invitations", item: "faces", token: "API tokens",
  import: "imports", account: "accounts",
};
const PAGE = 50;
const tbody = document.querySelector("#audit-table tbody");
const filter = document.getElementById("audit-filter");
const more = document.getElementById("audit-more");
const status = document.getElementById("audit-status");
let next = null;
let shown = 0;

for (const group of config.groups) filter.append(h("option", { value: group }, GROUPS[group] || group.replace(/_/g, " ")));

function row(event) {
  const when = new Date(event.created_at);
  const what = h("td", { class: "what" }, h("span", { class: "sentence" }, event.sentence));
  if (event.lines.length) {
    what.append(h("details", {}, h("summary", { class: "small muted" }, "details"),
      h("ul", { class: "small" }, event.lines.map((line) => h("li", {}, line)))));
  }
  return h("tr", { "data-action": event.action, "data-id": event.id },
    h("td", { class: "when" }, h("time", { datetime: event.created_at, title: event.created_at }, when.toLocaleString())),
    h("td", { class: "who-col" }, event.actor),
    what);
}

async function load({ reset = false } = {}) {
  more.disabled = true;
  status.textContent = "Loading…";
  try {
    const page = await api("audit-log/", { params: { action: filter.value, before: reset ? null : next, limit: PAGE } });
    if (reset) { tbody.replaceChildren(); shown = 0; }
    tbody.append(...page.events.map(row));
    shown += page.events.length;
    next = page.next_before;
    more.hidden = next === null;
    status.textContent = shown ? `${shown} event${shown === 1 ? "" : "s"} shown${next === null ? ", the oldest last" : ""}.`
      : filter.value ? "No events of this kind yet." : "No events yet: changes to settings and people will be listed here.";
  } catch (err) {
    status.textContent = `The log could not be read: ${err.message}`;
  } finally {
    more.disabled = false;
  }
}

filter.addEventListener("change", () => load({ reset: true }));
more.addEventListener("click", () => load());
load({ reset: true });

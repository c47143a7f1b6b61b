// People tab: members (role, pause, remove with a confirm dialog), invitation links and lead-created accounts.
import { api, config, h, serverPager, toast } from "./dashboard.js";

const membersBody = document.querySelector("#members tbody");
const invitationsBody = document.querySelector("#invitations tbody");
const removeDialog = document.getElementById("remove-dialog");
let members = [];

const day = (iso) => (iso ? new Date(iso).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" }) : "–");
const when = (iso) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "–");
const badge = (text, kind) => h("span", { class: `badge ${kind}` }, text);
const STATES = { pending: "pending", expired: "expired", revoked: "revoked", used_up: "used up" };

function statusCell(row) {
  const m = row.member;
  const parts = [m.paused ? badge("paused", "warn") : badge("active", "ok")];
  if (m.excluded_from_consensus) parts.push(" ", badge("excluded from consensus", "bad"));
  if (row.must_set_password) parts.push(" ", badge("has not set a password yet", "info"));
  return h("td", {}, parts);
}

function roleCell(row) {
  const m = row.member;
  const select = h("select", { class: "role-select", "aria-label": `Role of ${m.username}`, "data-action": "role" },
    h("option", { value: "annotator" }, "Annotator"), h("option", { value: "lead" }, "ML lead"));
  select.value = m.role;
  select.addEventListener("change", () => change(row, { role: select.value }, () => { select.value = m.role; }));
  return h("td", {}, select);
}

function memberRow(row) {
  const m = row.member;
  const you = m.user_id === config.me;
  return h("tr", { "data-user": m.user_id },
    h("td", {}, h("strong", {}, m.username), you ? h("span", { class: "muted small" }, " (you)") : null),
    roleCell(row),
    statusCell(row),
    h("td", { title: when(m.joined) }, day(m.joined)),
    h("td", { class: "num" }, row.answers.toLocaleString()),
    h("td", { class: "num" }, row.open_leases.toLocaleString()),
    h("td", {}, h("div", { class: "row-actions" },
      h("button", { type: "button", class: "button small", "data-action": "pause", onclick: () => change(row, { paused: !m.paused }) },
        m.paused ? "Resume" : "Pause"),
      h("button", { type: "button", class: "button small", "data-action": "remove", onclick: () => confirmRemove(row) }, "Remove"))),
  );
}

function renderMembers(data) {
  members = data.results;
  const { leads, count } = data, all = data.members;
  const former = data.former_members_with_answers;
  document.getElementById("members-note").textContent = `${all.toLocaleString()} member${all === 1 ? "" : "s"}, ${leads} ML lead${leads === 1 ? "" : "s"}.`
    + (former ? ` The answers of ${former} former member${former === 1 ? "" : "s"} stay in the project.` : "")
    + " Pausing or removing someone takes effect at once: their open leases go back to the pool.";
  membersBody.replaceChildren(...(members.length ? members.map(memberRow)
    : [h("tr", {}, h("td", { colspan: 7, class: "muted" }, pager.query ? `No member's name contains “${pager.query}”.` : "No members."))]));
  pager.show(members.length, count);
}

// Members come a page at a time (leads first, then by name), 100 at a time; q narrows them to matching usernames.
async function pageOfMembers(state) {
  const data = await api("members/", { params: { offset: state.offset, limit: state.page, ...(state.query ? { q: state.query } : {}) } });
  if (!data.results.length && state.offset > 0) return state.turn(state.offset - state.page);  // the last one left its page
  renderMembers(data);
}
const pager = serverPager({ ids: { prev: "members-prev", next: "members-next", info: "members-page-info", search: "members-search" },
  page: 100, load: pageOfMembers });
async function loadMembers() { await pageOfMembers(pager); }

async function change(row, body, undo) {
  const m = row.member;
  try {
    const updated = await api(`members/${m.user_id}/`, { method: "PATCH", body });
    if ("role" in body) toast(`${m.username} is now ${updated.role === "lead" ? "an ML lead" : "an annotator"}.`);
    if ("paused" in body) toast(updated.paused ? `${m.username} is paused: their open leases were released.` : `${m.username} can label again.`);
    await loadMembers();
  } catch (e) {
    if (undo) undo();
    toast(e.message, "bad");
  }
}

function confirmRemove(row) {
  const m = row.member;
  document.getElementById("remove-user").textContent = m.username;
  document.getElementById("remove-answers").textContent = row.answers
    ? `Their ${row.answers.toLocaleString()} answer${row.answers === 1 ? "" : "s"} stay in the project and keep counting.`
    : "They have not answered anything in this project.";
  removeDialog.returnValue = "";
  removeDialog.onclose = async () => {
    if (removeDialog.returnValue !== "remove") return;
    try {
      const done = await api(`members/${m.user_id}/`, { method: "DELETE" });
      toast(`${done.username} was removed; ${done.released_leases} open lease${done.released_leases === 1 ? "" : "s"} released, ${done.answers_kept} answer${done.answers_kept === 1 ? "" : "s"} kept.`);
      await loadMembers();
    } catch (e) { toast(e.message, "bad"); }
  };
  removeDialog.showModal();
}

function invitationRow(inv) {
  return h("tr", { "data-invitation": inv.id },
    h("td", {}, inv.role === "lead" ? "ML lead" : "Annotator"),
    h("td", {}, inv.note || h("span", { class: "muted" }, "–")),
    h("td", { title: when(inv.created_at) }, day(inv.created_at), inv.created_by ? h("span", { class: "muted small" }, ` by ${inv.created_by}`) : null),
    h("td", {}, when(inv.expires_at)),
    h("td", { class: "num" }, `${inv.uses} / ${inv.max_uses}`),
    h("td", { class: `state-${inv.state}` }, STATES[inv.state] || inv.state),
    h("td", {}, inv.state === "pending"
      ? h("button", { type: "button", class: "button small", "data-action": "revoke", onclick: () => revoke(inv) }, "Revoke") : null),
  );
}

async function loadInvitations() {
  const rows = await api("invitations/");
  const pending = rows.filter((i) => i.state === "pending").length;
  document.getElementById("invitations-note").textContent = rows.length
    ? `${pending} pending. Links are shown only when made; revoke one you no longer want used.` : "";
  invitationsBody.replaceChildren(...(rows.length ? rows.map(invitationRow)
    : [h("tr", { class: "empty-row" }, h("td", { colspan: 7 }, "No invitations yet. Create one above."))]));
}

async function revoke(inv) {
  try {
    await api(`invitations/${inv.id}/`, { method: "DELETE" });
    toast("Invitation revoked: its link no longer works.");
    await loadInvitations();
  } catch (e) { toast(e.message, "bad"); }
}

function copyButton(button, source) {
  button.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(source.textContent); toast("Copied."); } catch { toast("Select the text and copy it.", "bad"); }
  });
}

function formBusy(form, busy) { for (const b of form.querySelectorAll("button")) b.disabled = busy; }

document.getElementById("invite-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const body = { role: form.elements.role.value, expires_in_days: Number(form.elements.expires_in_days.value),
    max_uses: Number(form.elements.max_uses.value), note: form.elements.note.value };
  formBusy(form, true);
  try {
    const made = await api("invitations/", { method: "POST", body });
    document.getElementById("invite-link").textContent = made.link;
    document.getElementById("invite-result").hidden = false;
    form.elements.note.value = "";
    await loadInvitations();
  } catch (e) {
    toast(e.body?.error?.details ? Object.values(e.body.error.details).flat().join(" ") : e.message, "bad");
  } finally { formBusy(form, false); }
});

document.getElementById("account-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  formBusy(form, true);
  try {
    const made = await api("members/accounts/", { method: "POST", body: { username: form.elements.username.value, role: form.elements.role.value } });
    document.getElementById("account-user").textContent = made.username;
    document.getElementById("account-password").textContent = made.password;
    document.getElementById("account-signin").textContent = made.sign_in;
    document.getElementById("account-result").hidden = false;
    form.elements.username.value = "";
    await loadMembers();
  } catch (e) { toast(e.message, "bad"); } finally { formBusy(form, false); }
});

copyButton(document.getElementById("invite-copy"), document.getElementById("invite-link"));
copyButton(document.getElementById("account-copy"), document.getElementById("account-password"));

Promise.all([loadMembers(), loadInvitations()])
  .then(() => { document.body.dataset.ready = "1"; })
  .catch((e) => toast(e.message, "bad"));

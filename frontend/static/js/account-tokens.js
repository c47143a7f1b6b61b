// The user's API tokens: list them, make one (its key shown once), revoke one.
import { api } from "./label-api.js";

const STATES = { live: "live", expired: "expired", revoked: "revoked", password_changed: "revoked (password changed)" };
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const body = document.querySelector("#tokens tbody");
const errorBox = document.getElementById("token-error");

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(token) {
  const tr = document.createElement("tr");
  tr.dataset.token = token.id;
  tr.append(cell(token.name), cell(`${token.key_prefix}…`, "mono"), cell(STATES[token.state] ?? token.state, `state ${token.state}`),
            cell(when(token.created_at)), cell(when(token.last_used_at)), cell(token.expires_at ? when(token.expires_at) : "never"));
  const actions = document.createElement("td");
  if (token.state === "live") {
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.textContent = "Revoke";
    revoke.addEventListener("click", async () => {
      if (!window.confirm(`Revoke "${token.name}"? Scripts using it stop working at once.`)) return;
      revoke.disabled = true;
      await api(`/api/tokens/${token.id}/`, { method: "DELETE", body: {} });  // a body carries the CSRF header
      await load();
    });
    actions.append(revoke);
  }
  tr.append(actions);
  return tr;
}

async function load() {
  const tokens = await api("/api/tokens/");
  body.replaceChildren(...tokens.map(row));
  document.getElementById("tokens-empty").hidden = tokens.length > 0;
}

document.getElementById("token-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const days = form.expires_in_days.value.trim();
  errorBox.hidden = true;
  form.querySelector("button[type=submit]").disabled = true;
  try {
    const made = await api("/api/tokens/", { method: "POST", body: { name: form.name.value, expires_in_days: days ? Number(days) : null } });
    document.getElementById("token-key").textContent = made.key;
    document.getElementById("token-new").hidden = false;
    form.name.value = "";
    await load();
  } catch (error) {
    errorBox.textContent = error.message;
    errorBox.hidden = false;
  } finally {
    form.querySelector("button[type=submit]").disabled = false;
  }
});

document.getElementById("token-copy").addEventListener("click", async (event) => {
  await navigator.clipboard?.writeText(document.getElementById("token-key").textContent);
  event.target.textContent = "Copied";
});

load();

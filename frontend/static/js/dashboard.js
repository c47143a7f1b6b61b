// Shared helpers for the lead dashboard pages: config, API calls with CSRF, formatting, job progress.
export const config = JSON.parse(document.getElementById("dashboard-config").textContent);

// The page's token first (works with an HttpOnly CSRF cookie), the cookie as a fallback.
function csrfToken() {
  if (config.csrf) return config.csrf;
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `Request failed (${status})`);
    this.status = status;
    this.code = body?.error?.code || "error";
    this.body = body;
  }
}

export async function api(path, { method = "GET", body = null, params = null } = {}) {
  let url = path.startsWith("/") ? path : config.api + path;
  if (params) {
    const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined));
    if ([...q].length) url += (url.includes("?") ? "&" : "?") + q;
  }
  const headers = { Accept: "application/json" };
  if (body !== null) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  const response = await fetch(url, { method, headers, body: body === null ? null : JSON.stringify(body), credentials: "same-origin" });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const pct = (v, digits = 0) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(digits)}%`);
export const num = (v, digits = 2) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "style") node.style.cssText = v;  // through the CSSOM: the CSP blocks style attributes
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

export function toast(message, kind = "info") {
  let box = document.getElementById("toasts");
  if (!box) { box = h("div", { id: "toasts", "aria-live": "polite" }); document.body.append(box); }
  const t = h("div", { class: `toast ${kind}` }, message);
  box.append(t);
  setTimeout(() => t.remove(), 3500);
}

// Poll a job until it finishes, calling onUpdate(job) each time; resolves with the final job.
export async function followJob(jobId, onUpdate, { interval = 1000 } = {}) {
  for (;;) {
    const job = await api(`/api/jobs/${jobId}/`);
    onUpdate(job);
    if (["succeeded", "failed", "cancelled"].includes(job.status)) return job;
    await new Promise((r) => setTimeout(r, interval));
  }
}

// A table the server pages: Previous / Next buttons, "a–b of n", and a name search that waits for typing to settle.
// `ids`: {prev, next, info, search} element ids; `load(state)` fetches state.offset / state.query and calls
// state.show(rowsShown, count) once it has rendered.
export function serverPager({ ids, page, load }) {
  const state = { offset: 0, query: "", page };
  const run = () => load(state).catch((e) => toast(e.message, "bad"));
  state.turn = (to) => { state.offset = Math.max(0, to); return run(); };
  state.show = (shown, count) => {
    document.getElementById(ids.info).textContent = shown ? `${state.offset + 1}–${state.offset + shown} of ${count.toLocaleString()}` : "";
    document.getElementById(ids.prev).disabled = state.offset === 0;
    document.getElementById(ids.next).disabled = state.offset + shown >= count;
  };
  document.getElementById(ids.prev).addEventListener("click", () => state.turn(state.offset - page));
  document.getElementById(ids.next).addEventListener("click", () => state.turn(state.offset + page));
  const form = document.getElementById(ids.search);
  let typing = null;
  form.addEventListener("submit", (e) => e.preventDefault());
  form.elements.q.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.query = form.elements.q.value.trim(); state.turn(0); }, 250);
  });
  return state;
}

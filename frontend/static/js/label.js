// The labelling page: one face at a time, one key per answer, the next faces already decoded in memory.
import { api, ApiError, Outbox, uuid4 } from "./label-api.js";
import { ValenceArousalPad } from "./label-pad.js";

const config = JSON.parse(document.getElementById("label-config").textContent);
const $ = (id) => document.getElementById(id);
const app = $("label-app");
// Faces leased ahead of the one on screen: enough to hide a slow request, few enough to keep leases fair.
const PREFETCH = 3;
const PACE_WINDOW_MS = 5 * 60 * 1000;

const state = {
  queue: [],          // leased faces waiting, their images decoding
  current: null,      // { lease, shownAt, correcting: { clientId, label } | null }
  last: null,         // the last answer given: { lease, clientId, label, at }
  flags: new Set(),
  aus: new Map(),     // AU number -> 1 (present) or 1..5 (intensity A..E); unmarked AUs are sent as 0, absent
  fetching: null,     // the lease request under way
  exhausted: false,   // the server said there is nothing more for now
  resumed: false,     // leases from an earlier visit were asked for
  status: "ok",
  started: Date.now(),
  answers: [],        // times of this session's answers
  switchMs: [],       // key press -> next face on screen, for the pace of the page itself
};
window.ferlabLabel = state;

const labelKeys = new Map(config.labels.filter((l) => l.key).map((l) => [l.key, l.name]));
const flagKeys = new Map(config.flags.map((f) => [f.key, f.name]));
const auKeys = new Map(config.actionUnits.filter((a) => a.key).map((a) => [a.key, a.number]));
const AU_TOP = config.auIntensity ? 5 : 1;
const INTENSITY = " ABCDE";
const VA_STEP = { normal: 0.1, shift: 0.25 };
const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
const pad = $("va-pad") ? new ValenceArousalPad({ pad: $("va-pad"), dot: $("va-dot"), readout: $("va-readout") }) : null;

let acknowledged = 0;
const outbox = new Outbox({
  storageKey: `ferlab-outbox-${config.user}-${config.project}`,
  onChange: renderSync,
  onRejected(entry, error) {
    if (entry.body?.assignment && error.code !== "already_answered") {  // not saved: the count says what was
      state.answers.pop();
      renderSession();
    }
    if (error.status === 404 || error.code === "paused") { stopWork(error.status === 404 ? "removed" : "paused"); return; }
    if (error.code === "lease_expired") toast("Your time on one face ran out and others answered it; that answer was not needed.");
    else if (error.code !== "already_answered") toast(`Not saved: ${error.message}`);
  },
  onAcknowledged() {
    acknowledged += 1;
    if (acknowledged % 10 === 0) refreshProgress();
  },
});

// ----- leases and images -----

function preload(lease) {
  const img = new Image();
  img.decoding = "async";
  img.src = lease.image;
  lease.img = img;
  lease.ready = img.decode().catch(() => { lease.failed = true; });  // e.g. erased meanwhile (410): never shown
}

function holding() {
  const ids = state.queue.map((l) => l.assignment);
  if (state.current) ids.push(state.current.lease.assignment);
  for (const entry of outbox.entries) if (entry.assignment) ids.push(entry.assignment);
  return [...new Set(ids)].slice(-200);
}

function refill() {
  const want = PREFETCH - state.queue.length;
  if (state.fetching || state.exhausted || want <= 0) return state.fetching;
  const held = holding();
  // Only the first request of a page asks for leases left open by an earlier visit; later the page holds them all.
  const resume = !state.resumed;
  state.fetching = api(config.urls.next, { method: "POST", body: { count: want, holding: held, resume } })
    .then((body) => {
      state.resumed = true;
      state.status = body.status;
      withdraw(body.withdrawn || []);
      showLeadMessage(body.message);
      const known = new Set(held);
      for (const lease of body.assignments) {
        if (known.has(lease.assignment)) continue;
        preload(lease);
        state.queue.push(lease);
      }
      if (body.status !== "ok") {
        state.exhausted = true;
        // Abandoned leases return to the pool and leads can ask for more answers: look again later.
        setTimeout(() => { state.exhausted = false; if (!state.current) advance(); }, 30000);
      }
    })
    .catch((error) => {
      if (error instanceof ApiError && error.status === 404) {  // removed from the project (it takes effect at once)
        state.status = "removed";
        state.exhausted = true;
        return;
      }
      toast("Cannot reach the server; trying again…");
      return new Promise((resolve) => setTimeout(resolve, 2000));
    })
    .finally(() => {
      state.fetching = null;
      if (!state.current) advance();
    });
  return state.fetching;
}

// Faces a lead erased (on the person's request) while this page held them: dropped unshown, the one on screen replaced.
function withdraw(ids) {
  if (!ids.length) return;
  const gone = new Set(ids);
  state.queue = state.queue.filter((l) => !gone.has(l.assignment));
  if (state.current && gone.has(state.current.lease.assignment)) {
    toast("The face on screen was erased on request; here is the next one.");
    advance();
  }
}

function advance() {
  const soon = Date.now() + 5000;
  while (state.queue.length && (state.queue[0].failed || Date.parse(state.queue[0].expires_at) < soon)) state.queue.shift();
  const lease = state.queue.shift();
  if (lease) show(lease, null);
  else {
    state.current = null;
    if (state.fetching || !state.exhausted) app.dataset.state = "loading";
    else showEmpty();
  }
  refill();
}

function show(lease, correcting) {
  const old = $("face");
  const img = lease.img ?? Object.assign(new Image(), { src: lease.image });
  img.id = "face";
  img.alt = "Face to label";
  img.draggable = false;
  img.dataset.item = lease.item;
  img.dataset.assignment = lease.assignment;
  if (old !== img) old.replaceWith(img);
  state.current = { lease, shownAt: performance.now(), correcting };
  state.flags.clear();
  state.aus.clear();
  pad?.clear();
  renderFlags();
  renderAus();
  $("correcting").hidden = !correcting;
  if (correcting) $("correcting-was").textContent = correcting.label ? correcting.label.replace(/_/g, " ") : "no class asked";
  const hint = config.showHints ? lease.hint : null;
  $("hint").hidden = !hint;
  if (hint) {
    $("hint-label").textContent = hint.label.replace(/_/g, " ");
    $("hint-confidence").textContent = `(${Math.round(hint.confidence * 100)}%)`;
  }
  app.dataset.state = "labelling";
}

// A lead removed or paused this member: the faces still held here can no longer be answered.
function stopWork(status) {
  state.status = status;
  state.exhausted = true;
  state.queue = [];
  state.current = null;
  showEmpty();
  if (status === "paused") setTimeout(() => { state.exhausted = false; advance(); }, 30000);
}

function showEmpty() {
  if (state.status === "removed") {
    $("empty-title").textContent = "You are no longer a member of this project";
    $("empty-text").textContent = "An ML lead removed you from this project. The answers you gave are kept.";
    app.dataset.state = "empty";
    return;
  }
  const paused = state.status === "paused";
  $("empty-title").textContent = paused ? "Your work here is paused" : "No work left";
  $("empty-text").textContent = paused
    ? "An ML lead has paused your labelling in this project. The note above may say why."
    : "Every face in this project has the answers it needs from you. Thank you!";
  app.dataset.state = paused ? "paused" : "empty";
}

// ----- actions -----

function answer(label, pressedAt = performance.now()) {
  if (!state.current) return;
  // Without an expression class the answer is the dimensions alone: valence-arousal must be set when it is all.
  if (!config.labels.length && !config.actionUnits.length && !pad?.value) {
    toast("Set valence and arousal on the pad first.");
    return;
  }
  const { lease, shownAt, correcting } = state.current;
  const clientId = uuid4();
  const body = { client_id: clientId, label, flags: [...state.flags], seconds: Math.round(performance.now() - shownAt) / 1000 };
  if (pad?.value) Object.assign(body, pad.value);
  // Every AU on screen is judged: the ones not marked are absent (0). "Not a face" has no action units to judge.
  if (config.actionUnits.length && label !== "not_a_face") {
    body.action_units = Object.fromEntries(config.actionUnits.map((a) => [String(a.number), state.aus.get(a.number) ?? 0]));
  }
  if (correcting) body.replaces = correcting.clientId;
  else body.assignment = lease.assignment;
  outbox.push({ url: config.urls.annotations, body, assignment: lease.assignment });
  state.last = { lease, clientId, label, at: Date.now() };
  if (!correcting) state.answers.push(Date.now());
  flash(label);
  advance();
  requestAnimationFrame(() => state.switchMs.push(performance.now() - pressedAt));
  renderSession();
}

function undo() {
  const last = state.last;
  if (state.current?.correcting) return;
  if (!last || Date.now() - last.at > config.undoSeconds * 1000) {
    toast(last ? "Too late to undo that answer." : "Nothing to undo.");
    return;
  }
  if (state.current) state.queue.unshift(state.current.lease);
  state.last = null;
  show(last.lease, { clientId: last.clientId, label: last.label });
  toast("Answer again: your new answer replaces the last one.");
}

function skip() {
  if (!state.current) return;
  const { lease, correcting } = state.current;
  if (!correcting) {
    outbox.push({ url: config.urls.skip.replace("/0/", `/${lease.assignment}/`), body: {}, assignment: lease.assignment });
  }
  advance();
}

// absent -> present, or absent -> A -> ... -> E -> absent on intensity projects; `back` steps the other way.
function stepAu(number, back = false) {
  const value = ((state.aus.get(number) ?? 0) + (back ? AU_TOP : 1)) % (AU_TOP + 1);
  if (value) state.aus.set(number, value);
  else state.aus.delete(number);
  renderAus();
}

function toggleFlag(name) {
  if (state.flags.has(name)) state.flags.delete(name);
  else state.flags.add(name);
  renderFlags();
}

// ----- rendering -----

function renderFlags() {
  for (const button of document.querySelectorAll(".flag-button")) {
    button.setAttribute("aria-pressed", String(state.flags.has(button.dataset.flag)));
  }
}

function renderAus() {
  for (const chip of document.querySelectorAll(".au-chip")) {
    const value = state.aus.get(Number(chip.dataset.au)) ?? 0;
    chip.setAttribute("aria-pressed", String(value > 0));
    chip.dataset.value = String(value);
    chip.querySelector(".au-value").textContent = value ? (config.auIntensity ? INTENSITY[value] : "✓") : "";
  }
}

function renderSession() {
  $("session-count").textContent = String(state.answers.length);
  const now = Date.now();
  const since = Math.max(now - PACE_WINDOW_MS, state.started);
  const recent = state.answers.filter((t) => t >= since).length;
  const minutes = Math.max((now - since) / 60000, 0.25);
  $("session-pace").textContent = state.answers.length ? (recent / minutes).toFixed(1) : "–";
}

function renderSync(pending) {
  const sync = $("sync");
  sync.dataset.state = pending ? (navigator.onLine ? "pending" : "offline") : "ok";
  sync.textContent = pending ? `${pending} to save${navigator.onLine ? "" : " (offline)"}` : "saved";
}

function showLeadMessage(message) {
  const box = $("lead-message");
  box.hidden = !message;
  box.textContent = message ?? "";
}

let toastTimer;
function toast(text) {
  $("toast").textContent = text;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { $("toast").textContent = ""; }, 4000);
}

function flash(label) {
  const button = document.querySelector(`.label-button[data-label="${CSS.escape(label)}"]`);
  if (!button) return;
  button.classList.add("pressed");
  setTimeout(() => button.classList.remove("pressed"), 150);
}

async function refreshProgress() {
  try {
    const { progress } = await api(config.urls.project);
    $("progress-bar").style.width = `${(progress.progress * 100).toFixed(1)}%`;
    // The bar counts answers toward every face's target; the text says so, beside the faces that reached it.
    $("progress-text").textContent = `${Math.floor(progress.progress * 100)}% of the answers wanted · ${progress.items_done} of ${progress.items} faces complete`;
  } catch { /* the bar simply stays as it was */ }
}

function toggleHelp(open = $("help").hidden) {
  $("help").hidden = !open;
  if (!open) return;
  api(config.urls.stats).then((s) => {
    const parts = [`You have given ${s.answers} answers here`];
    if (s.median_seconds !== null) parts.push(`${s.median_seconds.toFixed(1)} s per face (median)`);
    if (s.quality?.agreement != null) parts.push(`${Math.round(s.quality.agreement * 100)}% agree with the consensus`);
    if (s.quality?.gold_accuracy != null) parts.push(`${Math.round(s.quality.gold_accuracy * 100)}% right on check faces`);
    $("help-stats").textContent = `${parts.join(" · ")}.`;
  }).catch(() => {});
}

// ----- input -----

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.target.closest?.("input, textarea, select")) return;
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  if (!$("help").hidden) {
    if (key === "Escape" || key === "?" || key === "h") toggleHelp(false);
    else return;
  } else if (labelKeys.has(key)) answer(labelKeys.get(key), performance.now());
  else if (key === "Enter" && !config.labels.length) answer("", performance.now());  // the Submit button's key
  else if (flagKeys.has(key)) toggleFlag(flagKeys.get(key));
  else if (auKeys.has(key)) stepAu(auKeys.get(key), event.shiftKey);
  else if (pad && ARROWS[key]) {
    const step = event.shiftKey ? VA_STEP.shift : VA_STEP.normal;
    pad.nudge(ARROWS[key][0] * step, ARROWS[key][1] * step);
  }
  else if (key === "z" || key === "Backspace") undo();
  else if (key === "s") skip();
  else if (key === "?" || key === "h") toggleHelp(true);
  else if (key === "v" && pad) pad.clear();
  else return;
  event.preventDefault();
});

$("labels").addEventListener("click", (event) => {
  const button = event.target.closest(".label-button");
  if (button) answer(button.dataset.label);
});
$("flags")?.addEventListener("click", (event) => {
  const button = event.target.closest(".flag-button");
  if (button) toggleFlag(button.dataset.flag);
});
$("aus")?.addEventListener("click", (event) => {
  const chip = event.target.closest(".au-chip");
  if (chip) stepAu(Number(chip.dataset.au), event.shiftKey);
});
$("undo").addEventListener("click", undo);
$("skip").addEventListener("click", skip);
$("help-button").addEventListener("click", () => toggleHelp());
$("help-close").addEventListener("click", () => toggleHelp(false));
$("help").addEventListener("click", (event) => { if (event.target === $("help")) toggleHelp(false); });

renderSync(outbox.pending);
outbox.flush();
refill();
setInterval(refreshProgress, 20000);
setInterval(renderSession, 10000);

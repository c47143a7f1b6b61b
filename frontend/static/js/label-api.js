// The work API over fetch (session cookie + CSRF token), and an outbox that never loses an answer.

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code ?? "error";
  }
}

export async function api(url, { method = "GET", body } = {}) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Accept": "application/json", ...(body === undefined ? {} : { "Content-Type": "application/json", "X-CSRFToken": csrfToken() }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// A retry is worth it for network failures, timeouts, throttling and server errors; other 4xx are final.
const retryable = (error) => !(error instanceof ApiError) || error.status >= 500 || error.status === 408 || error.status === 429;

/**
 * Answers and skips wait here, in order, until the server acknowledges them. Each answer keeps the
 * client id it was given when the key was pressed, so a resend after a lost response is a no-op on
 * the server. The outbox lives in localStorage, so a reload or a crash does not lose it either.
 */
export class Outbox {
  constructor({ storageKey, onChange = () => {}, onRejected = () => {}, onAcknowledged = () => {} }) {
    this.storageKey = storageKey;
    this.onChange = onChange;
    this.onRejected = onRejected;
    this.onAcknowledged = onAcknowledged;
    this.entries = this.load();
    this.sending = false;
    this.delay = 500;
    this.timer = null;
    window.addEventListener("online", () => this.flush());
  }

  load() {
    try { return JSON.parse(localStorage.getItem(this.storageKey) ?? "[]"); } catch { return []; }
  }

  save() {
    try { localStorage.setItem(this.storageKey, JSON.stringify(this.entries)); } catch { /* private mode: memory only */ }
    this.onChange(this.entries.length);
  }

  push(entry) {
    this.entries.push(entry);
    this.save();
    this.flush();
  }

  get pending() { return this.entries.length; }

  async flush() {
    if (this.sending) return;
    this.sending = true;
    clearTimeout(this.timer);
    try {
      while (this.entries.length) {
        const entry = this.entries[0];
        try {
          const result = await api(entry.url, { method: "POST", body: entry.body });
          this.onAcknowledged(entry, result);
        } catch (error) {
          if (retryable(error)) {
            this.timer = setTimeout(() => this.flush(), this.delay);
            this.delay = Math.min(this.delay * 2, 15000);
            return;
          }
          this.onRejected(entry, error);
        }
        this.entries.shift();
        this.delay = 500;
        this.save();
      }
    } finally {
      this.sending = false;
    }
  }
}

export const uuid4 = () => (crypto.randomUUID ? crypto.randomUUID() : "10000000-1000-4000-8000-100000000000".replace(/[018]/g,
  (c) => (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16)));

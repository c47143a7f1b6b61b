// Issue queue filter bar: the count beside each choice (what picking it would show), from the facets endpoint.
import { api } from "./dashboard.js";

export const FACETS = ["source", "answers", "reference", "agreement", "gold", "check"];

let pending = 0;

// Each option keeps its own words in data-text; the count is appended as " (n)". A choice with nothing is dimmed, not hidden.
export async function refreshFacets(form, params) {
  const ticket = ++pending;
  let body;
  try {
    body = await api("issues/facets/", { params });
  } catch (e) {
    return;  // the queue works without counts; they stay as they were
  }
  if (ticket !== pending) return;  // filters changed again meanwhile
  // The answers filter's default follows the label source: answered faces only, unless a source is chosen.
  const byDefault = form.elements.answers?.querySelector("option[value='']");
  if (byDefault) byDefault.dataset.text = form.elements.source?.value ? "any (a source is chosen)" : "answered (default)";
  for (const name of FACETS) {
    const select = form.elements[name];
    const counts = body.facets[name] || {};
    if (!select) continue;
    for (const option of select.options) {
      if (!option.dataset.text) option.dataset.text = option.textContent;
      const n = counts[option.value];
      // A large run's counts are estimated from a sample: "about". The check filter's are exact (the run counted them).
      const about = body.estimated && name !== "check";
      option.textContent = n === undefined ? option.dataset.text : `${option.dataset.text} (${about ? "about " : ""}${n.toLocaleString()})`;
      option.classList.toggle("zero", n === 0 && !about);
    }
  }
  form.dataset.facets = "1";
}

// After each decision the counts move by one; a lead deciding at key speed gets one recount when they pause.
let timer = null;
export function refreshFacetsSoon(form, params, delay = 700) {
  clearTimeout(timer);
  timer = setTimeout(() => refreshFacets(form, params), delay);
}

// "New project": the settings form, posted to the projects API; the new project's overview opens on success.
import { api, config } from "./dashboard.js";
import { errorText, projectForm } from "./project-form.js";

const form = document.getElementById("project-form");
const button = document.getElementById("pf-submit");
const pf = projectForm(form, config);
pf.fill(config.values);
form.elements.name.focus();

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  pf.clearError();
  let body;
  try {
    body = pf.read();
  } catch (err) {
    pf.showError(err.message);
    return;
  }
  button.disabled = true;
  button.textContent = "Creating…";
  try {
    const project = await api("/api/projects/", { method: "POST", body });
    location.assign(config.projectUrl.replace("{id}", project.id));
  } catch (err) {
    pf.showError(errorText(err));
    button.disabled = false;
    button.textContent = "Create project";
  }
});

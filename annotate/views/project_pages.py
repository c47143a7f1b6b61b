"""Pages: a new project, a project's settings and its audit log; changes go through the projects API."""
from django.contrib.auth.decorators import login_required
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_safe

from annotate.access import may_create_projects
from annotate.exceptions import Forbidden
from annotate.models import DEFAULT_FLAGS
from annotate.selectors.audit_log_entries import audit_action_groups
from annotate.selectors.project_settings import project_settings_values
from annotate.services.projects import MAX_GOLD_RATE, MAX_OVERLAP_TARGET
from annotate.views.dashboard import lead_page
from ml.action_units import AU_CATALOGUE, PRESETS
from ml.config import EXTRA_ANSWERS, FER2013_CLASSES, FERPLUS_CLASSES

LABEL_PRESETS = [
    {"id": "ferplus", "title": "FER+ eight", "labels": list(FERPLUS_CLASSES),
     "note": "neutral, happiness, surprise, sadness, anger, disgust, fear, contempt (the FER+ vote columns)"},
    {"id": "ekman", "title": "Ekman seven (FER2013)", "labels": list(FER2013_CLASSES),
     "note": "the six basic emotions and neutral, in FER2013's order"},
]
ACTION_UNITS = [{"number": n, "name": name, "description": description} for n, name, description in AU_CATALOGUE]
AU_PRESETS = [{"id": "disfa", "title": "DISFA", "numbers": list(PRESETS["disfa"])},
              {"id": "bp4d", "title": "BP4D", "numbers": list(PRESETS["bp4d"])}]


def _form_config() -> dict:
    return {
        "presets": LABEL_PRESETS, "extras": list(EXTRA_ANSWERS), "defaultFlags": list(DEFAULT_FLAGS),
        "maxK": MAX_OVERLAP_TARGET, "maxGoldRate": MAX_GOLD_RATE, "actionUnits": ACTION_UNITS, "auPresets": AU_PRESETS,
    }


@require_safe
@login_required
def project_new(request):
    if not may_create_projects(request.user):
        error = Forbidden("Only staff may create projects: ask an administrator to create it and make you its ML lead.")
        return render(request, "annotate/dashboard/denied.html", {"error": error}, status=403)
    config = {
        **_form_config(), "api": "/api/", "csrf": get_token(request), "mode": "create",
        "values": {"name": "", "description": "", "instructions": "", "labels": list(FERPLUS_CLASSES + EXTRA_ANSWERS),
                   "flags": list(DEFAULT_FLAGS), "overlap_target": 3, "gold_rate": 0.05, "show_model_hints": False,
                   "valence_arousal": False, "action_units": [], "au_intensity": False},
        "projectUrl": reverse("project-overview", args=[0]).replace("/0/", "/{id}/"),
    }
    return render(request, "annotate/project_new.html", {"config": config})


@lead_page("settings")
def project_settings(request, project):
    return {"config": {**_form_config(), "mode": "edit", "values": project_settings_values(project=project)}}


@lead_page("audit log", template="audit_log")
def project_audit_log(request, project):
    return {"config": {"groups": audit_action_groups(project=project)}}


urlpatterns = [
    path("projects/new/", project_new, name="project-new"),
    path("projects/<int:project_id>/settings/", project_settings, name="project-settings"),
    path("projects/<int:project_id>/audit-log/", project_audit_log, name="project-audit-log"),
]

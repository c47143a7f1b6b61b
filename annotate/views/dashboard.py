"""Pages: the lead's dashboard (overview, label issues, annotators, agreement, versions, models, jobs); data comes over the API."""
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.views.decorators.http import require_safe

from annotate.access import access_project_as_lead, access_version_as_lead
from annotate.exceptions import FERLabError, NotFound
from annotate.selectors.audit import overview_progress, quality_run_latest_brief, run_summary
from annotate.selectors.audit_issues import issue_filter_options
from annotate.selectors.dimensions import THIN_CLASS_FACES, check_options, project_dimensions
from annotate.selectors.run_numbers import quality_run_number_of

TABS = (
    ("overview", "project-overview"), ("issues", "project-issues"), ("annotators", "project-annotators"),
    ("agreement", "project-agreement"), ("versions", "project-versions"), ("models", "project-models"),
    ("upload", "project-upload"), ("jobs", "project-jobs"), ("people", "project-people"), ("settings", "project-settings"), ("audit log", "project-audit-log"),
)


def lead_page(tab: str, template: str | None = None):
    """Sign-in required; leads only (annotators 403, non-members 404, rendered as a page); GET and HEAD only.

    The view gets the project and any further URL arguments, and returns the template's context.
    """

    def decorate(view):
        @require_safe
        @login_required
        @wraps(view)
        def wrapped(request, project_id: int, **kwargs):
            try:
                project = access_project_as_lead(user=request.user, project_id=project_id)
                context = view(request, project, **kwargs)
            except FERLabError as error:
                return render(request, "annotate/dashboard/denied.html", {"error": error}, status=error.status)
            config = {
                "project": project.pk, "labels": list(project.labels), "tab": tab,
                "api": f"/api/projects/{project.pk}/", "csrf": get_token(request), **context.pop("config", {}),
            }
            tabs = [(name, reverse(url, args=[project.pk])) for name, url in TABS]
            return render(
                request, f"annotate/dashboard/{template or tab}.html",
                {"project": project, "tab": tab, "tabs": tabs, "config": config, **context},
            )

        return wrapped

    return decorate


@lead_page("overview")
def project_overview(request, project):
    run = quality_run_latest_brief(project_id=project.pk)
    return {"progress": overview_progress(project=project), "summary": run_summary(run=run), "run": run}


@lead_page("issues")
def project_issues(request, project):
    # Gold faces may also be the faces every model version is scored on: the gold panel says so.
    gold_evaluates = (project.evaluation_set or {}).get("kind") == "gold"
    filters = {**issue_filter_options(project=project), "checks": check_options(project=project)}
    # One <option> per annotator, joined here: the template's loop took 300-500 ms for 10,000 annotators (#20).
    options = format_html_join("", '<option value="{}">{}</option>', ((a["id"], a["username"]) for a in filters["annotators"]))
    return {"config": {"filters": filters, "gold_evaluates_models": gold_evaluates}, "annotator_options": options}


@lead_page("annotators")
def project_annotators(request, project):
    return {"asks": project_dimensions(project=project)}


@lead_page("agreement")
def project_agreement(request, project):
    return {"asks": project_dimensions(project=project), "thin_class_faces": THIN_CLASS_FACES}


@lead_page("jobs")
def project_jobs(request, project):
    return {}


@lead_page("versions")
def project_versions(request, project):
    return {"config": {"flags": list(project.flags)}}


def _version_of(request, project, version_id: int):
    version = access_version_as_lead(user=request.user, version_id=version_id)
    if version.project_id != project.pk:
        raise NotFound("No such dataset version in this project.")
    return version


@lead_page("versions", template="version")
def project_version(request, project, version_id: int):
    version = _version_of(request, project, version_id)
    own_name = version.name if version.name != f"v{version.number}" else ""
    return {"version": version, "own_name": own_name, "run_number": quality_run_number_of(run_id=version.quality_run_id),
            "config": {"version": version.pk, "stats": version.stats}}


@lead_page("versions", template="version_diff")
def project_version_diff(request, project, version_id: int):
    version = _version_of(request, project, version_id)
    against = request.GET.get("against", "")
    return {"version": version, "config": {"version": version.pk, "against": int(against) if against.isdigit() else None}}


@lead_page("models")
def project_models(request, project):
    job = request.GET.get("job", "")
    return {"config": {"job": int(job) if job.isdigit() else None}}


@lead_page("models", template="models_compare")
def project_models_compare(request, project):
    a, b = request.GET.get("a", ""), request.GET.get("b", "")
    return {"config": {"a": int(a) if a.isdigit() else None, "b": int(b) if b.isdigit() else None}}


urlpatterns = [
    path("projects/<int:project_id>/", project_overview, name="project-overview"),
    path("projects/<int:project_id>/issues/", project_issues, name="project-issues"),
    path("projects/<int:project_id>/annotators/", project_annotators, name="project-annotators"),
    path("projects/<int:project_id>/agreement/", project_agreement, name="project-agreement"),
    path("projects/<int:project_id>/jobs/", project_jobs, name="project-jobs"),
    path("projects/<int:project_id>/versions/", project_versions, name="project-versions"),
    path("projects/<int:project_id>/versions/<int:version_id>/", project_version, name="project-version"),
    path("projects/<int:project_id>/versions/<int:version_id>/diff/", project_version_diff, name="project-version-diff"),
    path("projects/<int:project_id>/models/", project_models, name="project-models"),
    path("projects/<int:project_id>/models/compare/", project_models_compare, name="project-models-compare"),
]

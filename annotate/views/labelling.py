"""Pages: the annotator's labelling page, a server-rendered shell driven by the work API."""
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_safe

from annotate.access import access_membership
from annotate.exceptions import FERLabError
from annotate.selectors.projects import project_progress
from annotate.services.annotations import UNDO_WINDOW
from ml.action_units import AU_CATALOGUE

LABEL_KEYS = "1234567890"
# Mnemonic keys for the default flags; other flags get the first free letter of their name.
FLAG_KEYS = {"occluded": "o", "non_frontal": "f", "low_quality": "q"}
RESERVED_KEYS = set("zsh?v")
# Action units take the letters flags leave free, in keyboard rows, so a project's AUs keep their keys while its
# flags stay; AUs beyond the free letters are answered by click only.
AU_KEY_ORDER = "qwertyuiopadfgjklxcbnm"
AU_DETAILS = {number: (name, description) for number, name, description in AU_CATALOGUE}


def _flag_keys(flags: list[str]) -> list[dict]:
    taken = set(RESERVED_KEYS)
    entries = []
    for flag in flags:
        key = FLAG_KEYS.get(flag)
        if key is None or key in taken:
            key = next((c for c in flag.lower() + "abcdegijklmnprtuwxy" if c.isalpha() and c not in taken), "")
        taken.add(key)
        entries.append({"name": flag, "key": key, "title": flag.replace("_", " ")})
    return entries


def _au_keys(action_units: list[int], *, taken: set[str]) -> list[dict]:
    free = iter(c for c in AU_KEY_ORDER if c not in taken)
    return [{"number": n, "key": next(free, ""), "name": AU_DETAILS[n][0], "description": AU_DETAILS[n][1]}
            for n in action_units]


@require_safe
@login_required
def label(request, project_id: int):
    try:
        membership = access_membership(user=request.user, project_id=project_id)
    except FERLabError:
        raise Http404("No such project.") from None
    project = membership.project
    labels = [
        {"name": name, "key": LABEL_KEYS[i] if i < len(LABEL_KEYS) else "", "title": name.replace("_", " ").capitalize()}
        for i, name in enumerate(project.labels)
    ]
    flags = _flag_keys(project.flags)
    config = {
        "project": project.pk,
        "labels": labels,
        "flags": flags,
        "valenceArousal": project.valence_arousal,
        "actionUnits": _au_keys(project.action_units, taken=RESERVED_KEYS | {f["key"] for f in flags}),
        "auIntensity": project.au_intensity,
        "showHints": project.show_model_hints,
        "undoSeconds": int(UNDO_WINDOW.total_seconds()),
        "user": request.user.pk,
        "urls": {
            "next": reverse("api-next", args=[project.pk]),
            "annotations": reverse("api-annotations"),
            "project": reverse("api-project", args=[project.pk]),
            "stats": reverse("api-stats-me", args=[project.pk]),
            "skip": reverse("api-assignment-skip", args=[0]),
        },
    }
    context = {
        "project": project, "membership": membership, "labels": labels, "flags": flags, "config": config,
        "action_units": config["actionUnits"],
        "progress": project_progress(project=project),
    }
    return render(request, "annotate/label.html", context)


urlpatterns = [path("projects/<int:project_id>/label/", label, name="label")]

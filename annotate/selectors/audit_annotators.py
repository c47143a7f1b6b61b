"""Audit reads: annotator table (run quality + live counts and speed) and per-annotator confusion."""
from annotate.exceptions import NotFound
from annotate.models import Membership, Project, QualityAnnotatorResult, QualityRun, Role
from annotate.selectors.stats import NO_ACTIVITY, annotator_activity


def annotator_table(*, project: Project, run: QualityRun | None) -> list[dict]:
    """One row per annotator (members and anyone scored by the run), worst quality first."""
    memberships = {
        m.user_id: m for m in Membership.objects.filter(project=project).select_related("user")
        if m.role == Role.ANNOTATOR
    }
    results = {}
    if run is not None:
        results = {r.annotator_id: r for r in QualityAnnotatorResult.objects.filter(run=run).select_related("annotator")}
    activity = annotator_activity(project=project)
    rows = []
    for user_id in set(memberships) | set(results):
        m, r, act = memberships.get(user_id), results.get(user_id), activity.get(user_id, NO_ACTIVITY)
        user = m.user if m else r.annotator
        rows.append({
            "user_id": user_id,
            "username": user.username,
            "member": m is not None,
            "paused": bool(m and m.paused),
            "excluded_from_consensus": bool(m and m.excluded_from_consensus),
            "message": m.message if m else "",
            "quality": r.quality if r else None,
            "agreement": r.agreement if r else None,
            "gold_accuracy": r.gold_accuracy if r else None,
            "gold_answers": r.gold_answers if r else 0,
            "worst_class": r.worst_class if r else "",
            "crowdlab_quality": r.crowdlab_quality if r else None,
            "bias": r.bias if r else None,
            "bias_from": r.bias_from if r else "",
            "bias_to": r.bias_to if r else "",
            "scored_answers": r.num_answers if r else 0,
            "answers": act["answers"],
            "corrections": act["corrections"],
            "median_seconds": act["median_seconds"],
            "last_answer_at": act["last_answer_at"].isoformat() if act["last_answer_at"] else None,
        })
    rows.sort(key=lambda x: (x["quality"] is None, x["quality"] if x["quality"] is not None else 0, x["username"]))
    return rows


def annotator_confusion(*, project: Project, run: QualityRun | None, user_id: int) -> dict:
    """The annotator's confusion matrix against consensus (rows: consensus, columns: their answer)."""
    result = None
    if run is not None:
        result = QualityAnnotatorResult.objects.filter(run=run, annotator_id=user_id).select_related("annotator").first()
    if result is None:
        if not Membership.objects.filter(project=project, user_id=user_id).exists():
            raise NotFound("No such annotator in this project.")
        return {"user_id": user_id, "labels": list(project.labels), "matrix": [], "run": run.id if run else None}
    return {
        "user_id": user_id,
        "username": result.annotator.username,
        "labels": list(project.labels),
        "matrix": result.confusion or [],
        "run": run.id,
        "quality": result.quality,
        "agreement": result.agreement,
        "worst_class": result.worst_class,
    }

"""Audit reads: annotator table (run quality with its evidence + live counts and speed) and per-annotator confusion."""
from types import SimpleNamespace

from django.db.models import F

from annotate.exceptions import NotFound
from annotate.models import Membership, Project, QualityAnnotatorResult, QualityRun, Role
from annotate.selectors.activity_snapshot import activity_since_run
from annotate.selectors.stats import NO_ACTIVITY

# Below this many co-annotated faces (faces someone else answered too) a quality figure is "thin evidence":
# an agreement rate over 20 faces still has a standard error near 0.1, over fewer it says little.
THIN_EVIDENCE_FACES = 20
# What stands behind a row's quality: none (no shared face: no quality), thin, enough, or unrecorded (a run
# from before the evidence was counted), not_scored (no answer in the run), and no_run.
EVIDENCE_STATES = ("none", "thin", "enough", "unrecorded", "not_scored", "no_run")


def annotator_evidence(*, result: QualityAnnotatorResult | None, recorded: dict | None, run: QualityRun | None = None) -> dict:
    """A row's evidence figures from its run result and the run's summary["annotator_evidence"] entry."""
    if result is None:
        return {"evidence": "not_scored" if run is not None else "no_run", "shared_items": None, "model_items": None, "model_agree": None,
                "model_agreement": None, "gold_correct": 0}
    gold_correct = round(result.gold_accuracy * result.gold_answers) if result.gold_accuracy is not None else 0
    if recorded is None:
        return {"evidence": "unrecorded", "shared_items": None, "model_items": None, "model_agree": None,
                "model_agreement": None, "gold_correct": gold_correct}
    shared, model_items, agree = (int(recorded.get(k, 0)) for k in ("shared_items", "model_items", "model_agree"))
    state = "none" if shared == 0 or result.quality is None else "thin" if shared < THIN_EVIDENCE_FACES else "enough"
    return {"evidence": state, "shared_items": shared, "model_items": model_items, "model_agree": agree,
            "model_agreement": agree / model_items if model_items else None, "gold_correct": gold_correct}


_RESULT_FIELDS = ("annotator_id", "num_answers", "quality", "crowdlab_quality", "bias", "bias_from", "bias_to", "agreement",
                  "gold_accuracy", "gold_answers", "worst_class")


def annotator_table(*, project: Project, run: QualityRun | None) -> list[dict]:
    """One row per annotator (members and anyone scored by the run), worst quality first."""
    # Plain rows, not model instances, and without the confusion matrix and dimension figures (JSON a row does not
    # show): building and decoding those for 10,000 annotators was most of the table's time.
    memberships = {
        m.user_id: m for m in (SimpleNamespace(**row) for row in Membership.objects.filter(project=project, role=Role.ANNOTATOR)
                               .values("user_id", "paused", "excluded_from_consensus", "message", username=F("user__username")))
    }
    results, recorded = {}, {}
    if run is not None:
        results = {r.annotator_id: r for r in (SimpleNamespace(**row) for row in QualityAnnotatorResult.objects.filter(run=run)
                                                .values(*_RESULT_FIELDS, username=F("annotator__username")))}
        recorded = (run.summary or {}).get("annotator_evidence")
    evidence_recorded = isinstance(recorded, dict)
    activity = activity_since_run(project=project, run=run)
    rows = []
    for user_id in set(memberships) | set(results):
        m, r, act = memberships.get(user_id), results.get(user_id), activity.get(user_id, NO_ACTIVITY)
        rows.append({
            "user_id": user_id,
            "username": (m or r).username,
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
            **annotator_evidence(result=r, recorded=(recorded.get(str(user_id), {}) if evidence_recorded else None) if r else None, run=run),
        })
    # Lowest quality first; those without one after, lowest agreement with the model first (a lone key-presser
    # who disagrees with the model stays near the top of that part), then the rest by name.
    rows.sort(key=lambda x: (x["quality"] is None, x["quality"] if x["quality"] is not None else 0,
                             x["model_agreement"] is None, x["model_agreement"] or 0, x["username"]))
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

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


def _model_agreement(recorded: dict | None) -> float | None:
    """Share of an annotator's answers equal to the model's top class, from their summary["annotator_evidence"] entry."""
    if not recorded:
        return None
    items = int(recorded.get("model_items", 0))
    return int(recorded.get("model_agree", 0)) / items if items else None


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
            "model_agreement": _model_agreement(recorded), "gold_correct": gold_correct}


_RESULT_FIELDS = ("annotator_id", "num_answers", "quality", "crowdlab_quality", "bias", "bias_from", "bias_to", "agreement",
                  "gold_accuracy", "gold_answers", "worst_class")


def annotator_table(*, project: Project, run: QualityRun | None, search: str = "", offset: int = 0,
                    limit: int | None = None) -> tuple[int, list[dict]]:
    """(how many, one page of rows): one row per annotator (members and anyone scored by the run) whose name contains
    `search`, worst quality first; `limit` None: every row.

    Lowest quality first; those without one after, lowest agreement with the model first (a lone key-presser who
    disagrees with the model stays near the top of that part), then the rest by name. The order comes from cheap keys
    of every annotator; the rows (activity, evidence, status) are built for the page only: building all 10,000 and
    sending 5.7 MB took 475 ms (#20).
    """
    members = Membership.objects.filter(project=project, role=Role.ANNOTATOR)
    scored = QualityAnnotatorResult.objects.filter(run=run) if run is not None else QualityAnnotatorResult.objects.none()
    if search:
        members = members.filter(user__username__icontains=search)
        scored = scored.filter(annotator__username__icontains=search)
    names = dict(members.values_list("user_id", "user__username"))
    qualities = {}
    for user_id, quality, username in scored.values_list("annotator_id", "quality", "annotator__username"):
        qualities[user_id] = quality
        names.setdefault(user_id, username)
    recorded = (run.summary or {}).get("annotator_evidence") if run is not None else None
    evidence_recorded = isinstance(recorded, dict)

    def evidence_of(user_id: int) -> dict | None:
        return (recorded.get(str(user_id), {}) if evidence_recorded else None) if user_id in qualities else None

    def key(user_id: int) -> tuple:
        quality = qualities.get(user_id)
        agreement = _model_agreement(evidence_of(user_id)) if user_id in qualities else None
        return (quality is None, quality or 0, agreement is None, agreement or 0, names[user_id])

    ordered = sorted(names, key=key)
    page = ordered[offset:] if limit is None else ordered[offset:offset + limit]
    # Plain rows of the page's annotators, not model instances, and without the confusion matrix and dimension
    # figures (JSON a row does not show).
    memberships = {m["user_id"]: SimpleNamespace(**m) for m in members.filter(user_id__in=page).values(
        "user_id", "paused", "excluded_from_consensus", "message", username=F("user__username"))}
    results = {r["annotator_id"]: SimpleNamespace(**r) for r in scored.filter(annotator_id__in=page).values(
        *_RESULT_FIELDS, username=F("annotator__username"))}
    activity = activity_since_run(project=project, run=run, only=set(page))
    rows = []
    for user_id in page:
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
            **annotator_evidence(result=r, recorded=evidence_of(user_id), run=run),
        })
    return len(ordered), rows


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

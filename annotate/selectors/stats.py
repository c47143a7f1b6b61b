"""Annotator stats: how much, how fast, and (once a quality run exists) how well."""
from annotate import fastpaths
from annotate.fastpaths.activity import activity_orm, activity_postgres
from annotate.models import QualityAnnotatorResult
from annotate.selectors.quality import quality_run_latest

# The activity of someone with no answers yet.
NO_ACTIVITY = {"answers": 0, "corrections": 0, "last_answer_at": None, "median_seconds": None}


def annotator_activity(*, project, annotator_id: int | None = None) -> dict[int, dict]:
    """Per annotator (or just the one given): live answers, corrections, median seconds per original answer and
    the last answer's time; the one place these figures are computed (the stats page and the audit table)."""
    activity = activity_postgres if fastpaths.enabled() else activity_orm
    return activity(project_id=project.pk, annotator_id=annotator_id)


def annotator_stats(*, project, annotator) -> dict:
    """Answers, corrections, median seconds per answer, and the latest quality run's verdict on them."""
    activity = annotator_activity(project=project, annotator_id=annotator.pk).get(annotator.pk, NO_ACTIVITY)
    result = {"annotator": annotator.pk, "username": annotator.get_username(), **activity, "quality": None}
    run = quality_run_latest(project_id=project.pk)
    if run is not None:
        verdict = QualityAnnotatorResult.objects.filter(run=run, annotator=annotator).first()
        if verdict is not None:
            result["quality"] = {
                "run": run.pk,
                "run_at": run.created_at,
                "answers_analysed": verdict.num_answers,
                "quality": verdict.quality,
                "agreement": verdict.agreement,
                "gold_accuracy": verdict.gold_accuracy,
                "gold_answers": verdict.gold_answers,
                "worst_class": verdict.worst_class,
            }
    return result

"""Annotator stats: how much, how fast, and (once a quality run exists) how well."""
import statistics

from annotate.models import Annotation, QualityAnnotatorResult
from annotate.selectors.quality import quality_run_latest


def annotator_stats(*, project, annotator) -> dict:
    """Answers, corrections, median seconds per answer, and the latest quality run's verdict on them."""
    rows = list(
        Annotation.objects.filter(project=project, annotator=annotator).values_list("replaces_id", "seconds", "created_at")
    )
    originals = [row for row in rows if row[0] is None]
    seconds = [row[1] for row in originals if row[1] is not None]
    result = {
        "annotator": annotator.pk,
        "username": annotator.get_username(),
        "answers": len(originals),
        "corrections": len(rows) - len(originals),
        "median_seconds": statistics.median(seconds) if seconds else None,
        "last_answer_at": max((row[2] for row in rows), default=None),
        "quality": None,
    }
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

"""Reviews: an ML lead's decisions on items, appended as rows; the latest review of an item is in force."""
from django.db import transaction

from annotate.exceptions import ValidationFailed
from annotate.models import Item, QualityItemResult, QualityRun, Review, ReviewAction
from annotate.selectors.quality import quality_run_latest
from annotate.services.priorities import BOOSTED_PRIORITY

# "Request more answers" asks for this many answers beyond the current target and puts the item
# ahead of any active-learning score (BOOSTED_PRIORITY).
REQUEST_MORE_ANSWERS = 1


def _consensus(item: Item, run: QualityRun | None) -> str:
    if run is None:
        return ""
    return QualityItemResult.objects.filter(run=run, item=item).values_list("consensus_label", flat=True).first() or ""


def _apply(item: Item, action: str) -> list[str]:
    """Bring Item.excluded in line with the review in force; returns the fields changed."""
    excluded = action == ReviewAction.EXCLUDE
    if item.excluded != excluded:
        item.excluded = excluded
        return ["excluded"]
    return []


@transaction.atomic
def review_create(
    *, item: Item, reviewer, action: str, label: str = "", quality_run: QualityRun | None = None, note: str = ""
) -> Review:
    """Record a decision and apply its effect on the item.

    accept: the consensus of the run (the latest by default) becomes the final label;
    relabel: `label` becomes the final label; exclude / include: leave the item out of / back in
    the dataset and the work queue; request_more: one more answer wanted, served first.
    """
    if action not in ReviewAction.values:
        raise ValidationFailed(f"Unknown review action {action!r}.", code="invalid_action")
    item = Item.objects.select_for_update().select_related("project").get(pk=item.pk)
    labels = item.project.labels
    run = quality_run or quality_run_latest(project_id=item.project_id)
    if run is not None and run.project_id != item.project_id:
        raise ValidationFailed("That quality run belongs to another project.", code="invalid_run")
    if action == ReviewAction.ACCEPT:
        label = label or _consensus(item, run)
        if not label:
            raise ValidationFailed("There is no consensus to accept for this item yet.", code="no_consensus")
    elif action == ReviewAction.RELABEL:
        if not label:
            raise ValidationFailed("Give the final label.", code="label_required")
    else:
        label = ""
    if label and label not in labels:
        raise ValidationFailed(f"{label!r} is not one of the project's labels.", code="invalid_label")
    changed = _apply(item, action)
    if action == ReviewAction.REQUEST_MORE:
        item.extra_answers += REQUEST_MORE_ANSWERS
        item.priority = max(item.priority, BOOSTED_PRIORITY)
        changed += ["extra_answers", "priority"]
    if changed:
        item.save(update_fields=changed)
    return Review.objects.create(item=item, reviewer=reviewer, action=action, label=label, quality_run=run, note=note)


@transaction.atomic
def review_undo(*, item: Item, reviewer) -> Review:
    """Undo the review in force by appending a review that restores the state before it.

    The restoring review repeats the previous decision (or `include` = no decision when there was
    none); undoing a request for more answers also takes back the extra answer and the priority.
    """
    item = Item.objects.select_for_update().get(pk=item.pk)
    latest_two = list(Review.objects.filter(item=item).order_by("-created_at", "-id")[:2])
    if not latest_two:
        raise ValidationFailed("This item has no review to undo.", code="nothing_to_undo")
    undone = latest_two[0]
    previous = latest_two[1] if len(latest_two) > 1 else None
    action = previous.action if previous else ReviewAction.INCLUDE
    label = previous.label if previous else ""
    changed = _apply(item, action)
    if undone.action == ReviewAction.REQUEST_MORE:
        item.extra_answers = max(0, item.extra_answers - REQUEST_MORE_ANSWERS)
        run = quality_run_latest(project_id=item.project_id)
        score = None
        if run is not None:
            score = QualityItemResult.objects.filter(run=run, item=item).values_list("active_learning_score", flat=True).first()
        item.priority = score or 0.0
        changed += ["extra_answers", "priority"]
    if changed:
        item.save(update_fields=changed)
    return Review.objects.create(
        item=item, reviewer=reviewer, action=action, label=label,
        quality_run=previous.quality_run if previous else undone.quality_run, note=f"undo of review {undone.pk}",
    )

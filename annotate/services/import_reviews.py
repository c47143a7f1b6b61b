"""Decisions a lead takes on an import's report: excluding a face reported as a near duplicate of another."""
from django.db import transaction

from annotate.exceptions import ValidationFailed
from annotate.models import Item, Job, Review, ReviewAction
from annotate.services.audit_log import audit_record
from annotate.services.reviews import review_create


@transaction.atomic
def near_duplicate_exclude(*, job: Job, entry: dict, reviewer) -> tuple[Review | None, Item]:
    """Exclude the face an import stored as a near duplicate (`entry` is its report entry), through a review.

    The review's note names the face it looks like; the change is audited as `item.excluded_as_near_duplicate`.
    A face excluded already gets no second review (returns None and the face), so a double click records one.
    """
    item = Item.objects.select_for_update().filter(pk=entry["item"], project_id=job.project_id).first()
    if item is None:
        raise ValidationFailed("This face is no longer in the project (its import was cancelled, or it was removed).",
                               code="item_gone")
    if item.erased_at is not None:
        raise ValidationFailed("This face was erased; there is nothing left to exclude.", code="item_erased")
    if item.excluded:
        return None, item
    note = f"near duplicate of item {entry['similar_item']} (distance {entry['distance']}) in import #{job.pk}"
    review = review_create(item=item, reviewer=reviewer, action=ReviewAction.EXCLUDE, note=note)
    audit_record(
        project=job.project, actor=reviewer, action="item.excluded_as_near_duplicate", target=f"item:{item.pk}",
        details={"similar_item": entry["similar_item"], "distance": entry["distance"], "import_job": job.pk,
                 "review": review.pk, "where": entry.get("where", "")},
    )
    return review, review.item

"""Gold faces: a lead marks a face's known answer (mixed into annotators' queues to measure them), or takes it back."""
from django.db import transaction

from annotate.exceptions import Conflict, ValidationFailed
from annotate.models import Item
from annotate.services.audit_log import audit_record


def _locked(item: Item) -> Item:
    return Item.objects.select_for_update().select_related("project").get(pk=item.pk)


@transaction.atomic
def item_gold_set(*, item: Item, actor, label: str) -> tuple[Item, bool]:
    """Make the face gold with `label` (one of the project's labels); returns the item and whether anything changed.

    Setting the label it already has changes nothing and records nothing, so a retried request is harmless.
    """
    item = _locked(item)
    if label not in item.project.labels:
        raise ValidationFailed(f"{label!r} is not one of the project's labels.", code="invalid_label")
    if item.erased_at is not None:
        raise Conflict("This face's images were erased: it cannot be shown to annotators as gold.", code="item_erased")
    if item.is_gold and item.gold_label == label:
        return item, False
    previous = item.gold_label if item.is_gold else None
    item.is_gold, item.gold_label = True, label
    item.save(update_fields=["is_gold", "gold_label"])
    audit_record(project=item.project, actor=actor, action="item.gold_set", target=f"item:{item.pk}",
                 details={"label": label, "previous_label": previous})
    return item, True


@transaction.atomic
def item_gold_remove(*, item: Item, actor) -> tuple[Item, bool]:
    """The face is no longer gold; returns the item and whether it was gold (a face that was not changes nothing)."""
    item = _locked(item)
    if not item.is_gold:
        return item, False
    previous = item.gold_label
    item.is_gold, item.gold_label = False, ""
    item.save(update_fields=["is_gold", "gold_label"])
    audit_record(project=item.project, actor=actor, action="item.gold_removed", target=f"item:{item.pk}",
                 details={"previous_label": previous})
    return item, True

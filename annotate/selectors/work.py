"""Annotator-side reads: their own answers and leases, and model hints for leased faces."""
from django.db.models import QuerySet

from annotate.exceptions import NotFound
from annotate.models import Annotation, Assignment, Item, Prediction, Project
from annotate.signing import item_image_link


def annotation_list_for_annotator(*, annotator, project_id: int | None = None) -> QuerySet[Annotation]:
    """The annotator's own answers (corrections included), newest first."""
    queryset = Annotation.objects.filter(annotator=annotator).select_related("replaces")
    if project_id is not None:
        queryset = queryset.filter(project_id=project_id)
    return queryset.order_by("-created_at", "-pk")


def annotation_get_for_annotator(*, annotator, annotation_id: int) -> Annotation:
    """One of the annotator's own answers; someone else's is reported as missing."""
    annotation = annotation_list_for_annotator(annotator=annotator).filter(pk=annotation_id).first()
    if annotation is None:
        raise NotFound("No such answer.")
    return annotation


def assignment_list_for_annotator(*, annotator, project_id: int, status: str | None = None) -> QuerySet[Assignment]:
    """The annotator's own leases in a project, newest first."""
    queryset = Assignment.objects.filter(annotator=annotator, project_id=project_id)
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-pk")


def model_hints(*, project: Project, item_ids: list[int]) -> dict[int, dict]:
    """item id -> the project's active model's suggestion (the promoted one, else the shipped one), only where the project shows hints (none otherwise)."""
    if not project.show_model_hints or not item_ids:
        return {}
    rows = (
        Prediction.objects.filter(item_id__in=item_ids, **(
            {"model_version_id": project.model_version_id} if project.model_version_id else {"model_version__is_active": True}))
        .order_by("item_id", "-created_at")
        .values_list("item_id", "label", "confidence")
    )
    hints: dict[int, dict] = {}
    for item_id, label, confidence in rows:
        hints.setdefault(item_id, {"label": label, "confidence": confidence})
    return hints


def lease_image_links(assignments: list[Assignment], *, holder) -> dict[int, str]:
    """item id -> signed image link for leased faces, made out to `holder` (the caller's Membership), so the links
    stop working when the membership goes or is paused (one query for items not loaded with their lease)."""
    crops = {a.item_id: a.item.crop.name for a in assignments if Assignment.item.is_cached(a)}
    missing = [a.item_id for a in assignments if a.item_id not in crops]
    if missing:
        crops.update(Item.objects.filter(pk__in=missing).values_list("pk", "crop"))
    return {item_id: item_image_link(item_id=item_id, crop=crop, holder=holder) for item_id, crop in crops.items()}

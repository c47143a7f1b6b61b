"""Project reads: what a user belongs to and how far each project is."""
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce, Least

from annotate.models import Item, Membership


def project_list_for_user(*, user) -> list[dict]:
    """The user's projects with their role and progress."""
    memberships = list(Membership.objects.filter(user=user).select_related("project").order_by("project__name"))
    return [{"project": m.project, "role": m.role, "membership": m, **project_progress(project=m.project)} for m in memberships]


def project_progress(*, project) -> dict:
    """Items, items that reached their target, answers counted toward targets, and the share done."""
    target = F("extra_answers") + Value(project.overlap_target)
    counts = Item.objects.filter(project=project, excluded=False).aggregate(
        items=Count("id"),
        items_done=Count("id", filter=Q(answer_count__gte=target)),
        answers=Coalesce(Sum(Least("answer_count", target)), 0),
        wanted=Coalesce(Sum(target), 0),
    )
    wanted = counts.pop("wanted")
    return {**counts, "progress": counts["answers"] / wanted if wanted else 0.0}

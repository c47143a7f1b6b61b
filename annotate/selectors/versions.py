"""Dataset version reads: a project's versions and the one before a version."""
from django.db.models import QuerySet

from annotate.models import DatasetVersion


def versions_for_project(*, project_id: int) -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.filter(project_id=project_id).select_related("created_by").order_by("-number")


def version_previous(*, version: DatasetVersion) -> DatasetVersion | None:
    return DatasetVersion.objects.filter(project_id=version.project_id, number__lt=version.number).order_by("-number").first()

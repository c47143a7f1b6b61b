"""Reads about erased faces: how many a dataset version holds, and the note its data card carries about them."""
from annotate.models import DatasetVersion, DatasetVersionItem

ERASURE_HEADING = "## Erased faces"


def version_erased_count(*, version_id: int) -> int:
    """How many faces of a dataset version are erased (their labels are in it, their images no longer anywhere)."""
    return DatasetVersionItem.objects.filter(version_id=version_id, item__erased_at__isnull=False).count()


def erasure_note(*, erased: int) -> str:
    """The data card's section on erased faces (empty when there are none): what is kept and what each format holds."""
    if not erased:
        return ""
    faces = "face" if erased == 1 else "faces"
    return (
        f"{ERASURE_HEADING}\n\n"
        f"This version contains {erased} erased {faces} (images removed). A lead erased {'it' if erased == 1 else 'them'} "
        "on request (faces are biometric data): the original, the crop and every copy in a built export were deleted. "
        "The version's labels, soft labels, votes and quality scores are unchanged, and so is its content hash.\n\n"
        "How each export shows an erased face: FER2013 CSV, FER+ votes (both files, row for row) and Label Studio JSON "
        "leave it out; image folders keep its row in labels.csv with an empty file_name and no image; Parquet and "
        "JSON Lines keep its record with an empty image (null).\n"
    )


def version_data_card(*, version: DatasetVersion, erased: int | None = None) -> str:
    """The version's frozen data card, with the note on its erased faces appended (the frozen text never changes)."""
    erased = version_erased_count(version_id=version.pk) if erased is None else erased
    note = erasure_note(erased=erased)
    card = version.data_card or ""
    return f"{card.rstrip()}\n\n{note}" if note else card


def leases_withdrawn(*, annotator_id: int, assignment_ids: list[int]) -> list[int]:
    """Which of the leases a labelling page holds are of faces erased since: the page drops them unshown."""
    if not assignment_ids:
        return []
    from annotate.models import Assignment

    return sorted(Assignment.objects.filter(pk__in=assignment_ids, annotator_id=annotator_id, item__erased_at__isnull=False)
                  .values_list("pk", flat=True))

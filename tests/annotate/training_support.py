"""Builders for the training and registry tests: a frozen version of real sample faces split three ways (no tests here)."""
from annotate.models import DatasetVersion, DatasetVersionItem, Item, QualityItemResult
from tests.annotate.exports_support import version_make

# The sample is nearly all PublicTest: the tests give its faces these splits, in item order.
SPLITS = (("Training", 0.7), ("PrivateTest", 0.1), ("PublicTest", 0.2))


def training_version(project, *, faces: int = 300, number: int = 1) -> DatasetVersion:
    """A version of up to `faces` real sample faces with their FER+ votes, split Training / PrivateTest / PublicTest,
    and its quality run's per-face results."""
    version = version_make(project, faces_wanted=faces, number=number)
    ids = list(DatasetVersionItem.objects.filter(version=version).order_by("item_id").values_list("item_id", flat=True))
    start = 0
    for split, share in SPLITS:
        end = len(ids) if split == SPLITS[-1][0] else start + round(share * len(ids))
        DatasetVersionItem.objects.filter(version=version, item_id__in=ids[start:end]).update(split=split)
        Item.objects.filter(pk__in=ids[start:end]).update(split=split)
        start = end
    # The version's run gets the per-face results it was frozen from, so the registry's truth (taken from the
    # latest run, as a freeze takes it) is the version's own labels and votes.
    QualityItemResult.objects.bulk_create([
        QualityItemResult(run=version.quality_run, item_id=e.item_id, num_answers=e.num_answers, votes=e.votes,
                          consensus_label=e.label, consensus_quality=e.quality, model_label=e.model_label)
        for e in version.entries.all()
    ])
    return version


def evaluation_set_use(project, split: str = "PublicTest") -> None:
    """Fix the project's evaluation set without running a job (the registry tests score on their own)."""
    project.evaluation_set = {"kind": "split", "split": split}
    project.save(update_fields=["evaluation_set"])

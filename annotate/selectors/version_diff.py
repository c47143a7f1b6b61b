"""What changed from one dataset version of a project to another (a read: versions never change once frozen)."""
from __future__ import annotations

from collections import Counter, defaultdict

from annotate.exceptions import ValidationFailed
from annotate.models import DatasetVersion, DatasetVersionItem

DIFF_CELL_ITEMS = 200  # item ids listed per changed cell; the counts cover all of them


def version_diff(*, old: DatasetVersion, new: DatasetVersion) -> dict:
    """What changed from one version of a project to another: faces, final labels (from -> to), splits, balance."""
    if old.project_id != new.project_id:
        raise ValidationFailed("Both versions must belong to the same project.", code="invalid_diff")
    before = {i: (label, split) for i, label, split in old.entries.values_list("item_id", "label", "split")}
    after = {i: (label, split) for i, label, split in new.entries.values_list("item_id", "label", "split")}
    changes: dict[tuple[str, str], list[int]] = defaultdict(list)
    split_moves: Counter = Counter()
    for item_id in sorted(before.keys() & after.keys()):
        (a_label, a_split), (b_label, b_split) = before[item_id], after[item_id]
        if a_label != b_label:
            changes[(a_label, b_label)].append(item_id)
        if a_split != b_split:
            split_moves[(a_split, b_split)] += 1
    balance_a = Counter(label for label, _ in before.values())
    balance_b = Counter(label for label, _ in after.values())
    classes = sorted(balance_a.keys() | balance_b.keys())
    return {
        "old": {"id": old.pk, "number": old.number, "sha256": old.sha256, "faces": len(before)},
        "new": {"id": new.pk, "number": new.number, "sha256": new.sha256, "faces": len(after)},
        "added": len(after.keys() - before.keys()), "removed": len(before.keys() - after.keys()),
        "added_items": sorted(after.keys() - before.keys())[:DIFF_CELL_ITEMS],
        "removed_items": sorted(before.keys() - after.keys())[:DIFF_CELL_ITEMS],
        "label_changes": sorted(
            ({"from": a, "to": b, "count": len(ids), "items": ids[:DIFF_CELL_ITEMS]} for (a, b), ids in changes.items()),
            key=lambda c: (-c["count"], c["from"], c["to"]),
        ),
        "label_changed": sum(len(ids) for ids in changes.values()),
        # Faces erased on request since (their labels are in the versions, their images nowhere): shown as tiles.
        "erased_items": sorted(set(DatasetVersionItem.objects.filter(version__in=[old, new], item__erased_at__isnull=False)
                                   .values_list("item_id", flat=True))),
        "split_moves": [{"from": a, "to": b, "count": n} for (a, b), n in split_moves.most_common()],
        "class_balance": [{"label": c, "old": balance_a.get(c, 0), "new": balance_b.get(c, 0),
                           "change": balance_b.get(c, 0) - balance_a.get(c, 0)} for c in classes],
    }

"""The registry's evaluation-set choices count each split's and the gold faces less the excluded ones."""
import pytest

from annotate.models import Item
from annotate.services.registry import evaluation_set_choices

pytestmark = pytest.mark.django_db


def test_each_split_and_the_gold_faces_are_counted_without_the_excluded_ones(make_project, make_items):
    project, _, _ = make_project()
    items = make_items(project, 9, split="Training") + make_items(project, 3, split="PublicTest")
    items += make_items(project, 2, split="")
    Item.objects.filter(pk__in=[items[0].pk, items[1].pk]).update(is_gold=True, gold_label="fear")
    Item.objects.filter(pk__in=[items[1].pk, items[2].pk] + [i.pk for i in items[9:12]]).update(excluded=True)
    assert evaluation_set_choices(project=project) == [
        {"kind": "split", "split": "Training", "items": 7},  # PublicTest: every face excluded, no choice
        {"kind": "gold", "split": None, "items": 1},
    ]

"""The quality run's column readers, PostgreSQL's binary COPY against its ORM twin (fastpaths.quality_columns)."""
import uuid

import numpy as np
import pytest
from django.db import connection

from annotate.fastpaths import quality_columns as q
from annotate.models import Annotation, Item, Project
from tests.annotate.quality_support import answer, model_version_make, predictions_make

pytestmark = [pytest.mark.django_db, pytest.mark.postgres, pytest.mark.skipif(
    connection.vendor != "postgresql", reason="compares the PostgreSQL fast path with its ORM twin")]


def _same(fast: dict, twin: dict) -> None:
    assert fast.keys() == twin.keys()
    for key in fast:
        assert fast[key].dtype == twin[key].dtype and fast[key].shape == twin[key].shape, key
        np.testing.assert_array_equal(fast[key], twin[key], err_msg=key)


def test_items_answers_and_predictions_read_the_same_by_copy_and_by_the_orm(make_project, make_items):
    project, lead, people = make_project(annotators=2, valence_arousal=True)
    Project.objects.filter(pk=project.pk).update(action_units=[4, 12, 25])
    items = make_items(project, 5)
    Item.objects.filter(pk=items[0].pk).update(split="Training", perceptual_hash=-2**63, reference_label="fear")
    Item.objects.filter(pk=items[1].pk).update(split="PublicTest", perceptual_hash=2**63 - 1, is_gold=True,
                                               gold_label="anger")
    Item.objects.filter(pk=items[2].pk).update(is_gold=True, gold_label="no such label", reference_label="other")
    Item.objects.filter(pk=items[4].pk).update(excluded=True)
    first = answer(items[0], people[0], "happiness", valence=-1.0, arousal=0.25, action_units={"4": 0, "12": 3})
    Annotation.objects.create(project=project, item=items[0], annotator=people[0], label="sadness", valence=None,
                              arousal=1.0, action_units=None, replaces=first, client_id=uuid.uuid4())
    answer(items[1], people[1], "not in the labels", action_units={"25": 1, "99": 1})
    answer(items[2], people[0], "not_a_face", valence=0.5)
    last = answer(items[4], people[1], "fear")
    version = model_version_make()
    predictions_make(version, items, np.eye(8)[[0, 1, 2, 3, 4]] + 0.01)
    labels = list(project.labels)
    splits = ["", "PublicTest", "Training"]

    args = {"project_id": project.pk, "labels": labels, "splits": splits}
    fast, twin = q.item_columns_postgres(**args), q.item_columns_orm(**args)
    _same(fast, twin)
    assert fast["id"].tolist() == [i.pk for i in items[:4]] and fast["split"].tolist() == [2, 1, 0, 0]
    assert fast["perceptual_hash"][:2].tolist() == [-2**63, 2**63 - 1] and fast["has_hash"].tolist()[:2] == [1, 1]
    assert fast["reference"].tolist()[:3] == [labels.index("fear"), -1, -1]
    assert fast["gold"].tolist()[:3] == [-1, labels.index("anger"), -1]

    args = {"project_id": project.pk, "watermark": last.pk, "labels": labels, "valence_arousal": True,
            "au_numbers": [4, 12, 25]}
    fast, twin = q.answer_columns_postgres(**args), q.answer_columns_orm(**args)
    _same(fast, twin)
    order = np.argsort(fast["id"])
    assert fast["label"][order].tolist() == [labels.index("happiness"), labels.index("sadness"), -1,
                                             labels.index("not_a_face"), labels.index("fear")]
    assert fast["replaces"][order].tolist() == [0, first.pk, 0, 0, 0]
    assert np.isnan(fast["valence"][order][1]) and fast["arousal"][order][1] == 1.0
    assert fast["au"][order].tolist()[:3] == [[0, 3, -1], [-1, -1, -1], [-1, -1, 1]]
    _same(q.answer_columns_postgres(**{**args, "valence_arousal": False, "au_numbers": []}),
          q.answer_columns_orm(**{**args, "valence_arousal": False, "au_numbers": []}))

    args = {"project_id": project.pk, "model_version_id": version.pk, "order": [7, 0, 3]}
    fast_ids, fast_probs = q.prediction_columns_postgres(**args)
    twin_ids, twin_probs = q.prediction_columns_orm(**args)
    order, twin_order = np.argsort(fast_ids), np.argsort(twin_ids)
    np.testing.assert_array_equal(fast_ids[order], twin_ids[twin_order])
    np.testing.assert_array_equal(fast_probs[order], twin_probs[twin_order])
    assert fast_probs.shape == (5, 3) and fast_probs[order][3].argmax() == 2  # item 3's class 3, read third

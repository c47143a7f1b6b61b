"""The annotators table's activity from the latest run's snapshot plus who answered since equals a full recount."""
import uuid

import pytest
from django.db.models import Max

from annotate.models import Annotation, QualityRun
from annotate.selectors.activity_snapshot import activity_since_run, activity_snapshot
from annotate.selectors.stats import annotator_activity
from tests.annotate.db_support import postgres_only
from tests.annotate.test_audit_api import api, audited  # noqa: F401  (audited: the fixture)

pytestmark = pytest.mark.django_db


def _snapshot_run(project, run) -> QualityRun:
    watermark = Annotation.objects.filter(project=project).aggregate(w=Max("id"))["w"]
    run.summary = {**run.summary, "annotator_activity": activity_snapshot(project_id=project.pk, watermark=watermark)}
    run.save(update_fields=["summary"])
    return run


@postgres_only("the run's activity snapshot is written only on PostgreSQL (activity_snapshot gives None elsewhere)")
def test_snapshot_plus_answers_since_equals_a_full_recount(audited):  # noqa: F811
    project, _, people, items, run = audited
    run = _snapshot_run(project, run)
    assert activity_since_run(project=project, run=run) == annotator_activity(project=project)
    # After the run: a new answer and a correction by one annotator, the others untouched.
    mine = Annotation.objects.filter(project=project, annotator=people[1], replaces__isnull=True).first()
    Annotation.objects.create(project=project, item=mine.item, annotator=people[1], label="fear", seconds=9.5,
                              client_id=uuid.uuid4(), replaces=mine)
    fresh = next(i for i in items if not Annotation.objects.filter(item=i, annotator=people[1]).exists())
    Annotation.objects.create(project=project, item=fresh, annotator=people[1], label="anger", seconds=0.4, client_id=uuid.uuid4())
    live = annotator_activity(project=project)
    assert activity_since_run(project=project, run=run) == live
    assert live[people[1].pk]["corrections"] == run.summary["annotator_activity"]["annotators"][str(people[1].pk)][1] + 1


def test_annotators_api_uses_the_snapshot_and_keeps_its_figures(api_client, audited):  # noqa: F811
    project, lead, _, _, run = audited
    api_client.force_authenticate(lead)
    before = api(api_client, project, "annotators/")
    _snapshot_run(project, run)
    assert api(api_client, project, "annotators/") == before

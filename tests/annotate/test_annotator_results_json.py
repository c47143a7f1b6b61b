"""A run's annotator results written as JSON by PostgreSQL equal the ORM twin's rows (annotate.fastpaths)."""
import json

import pytest
from django.db import connection

from annotate.fastpaths.annotator_results import annotator_results_json_orm, annotator_results_json_postgres
from annotate.models import QualityAnnotatorResult
from tests.annotate.test_audit_api import audited  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the fast path is PostgreSQL's")
def test_postgres_writes_the_orm_twins_rows_in_its_order(audited):  # noqa: F811
    _, _, people, _, run = audited
    QualityAnnotatorResult.objects.filter(run=run, annotator=people[2]).update(quality=None)  # ranked last
    evidence = {"shared_items": 7, "model_items": 5, "model_agree": 4}
    run.summary = {**run.summary, "annotator_evidence": {str(people[0].pk): evidence}}
    run.save(update_fields=["summary"])
    orm = json.loads(annotator_results_json_orm(run=run))
    assert json.loads(annotator_results_json_postgres(run=run)) == orm
    assert orm[-1]["annotator"] == people[2].pk and orm[-1]["quality"] is None
    assert [r["evidence"] for r in orm if r["annotator"] == people[0].pk] == [evidence]
    assert all(r["evidence"] is None for r in orm if r["annotator"] != people[0].pk)
    assert all(len(r["confusion"]) == len(run.project.labels) for r in orm)
    run.summary = {k: v for k, v in run.summary.items() if k != "annotator_evidence"}  # a run from before evidence
    run.save(update_fields=["summary"])
    assert json.loads(annotator_results_json_postgres(run=run)) == json.loads(annotator_results_json_orm(run=run))

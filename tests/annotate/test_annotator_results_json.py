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


def test_a_page_of_a_runs_annotator_results_is_the_same_slice_in_both_paths(audited):  # noqa: F811
    _, _, people, _, run = audited
    QualityAnnotatorResult.objects.filter(run=run, annotator=people[0]).update(quality=None)
    everything = json.loads(annotator_results_json_orm(run=run))
    assert len(everything) >= 3
    for offset, limit in ((0, 1), (1, 2), (2, 5), (len(everything), 3)):
        page = json.loads(annotator_results_json_orm(run=run, offset=offset, limit=limit))
        assert page == everything[offset:offset + limit]
        if connection.vendor == "postgresql":
            assert json.loads(annotator_results_json_postgres(run=run, offset=offset, limit=limit)) == page


def test_the_api_pages_a_runs_annotators_with_total_and_next_link(api_client, audited):  # noqa: F811
    project, lead, _, _, run = audited
    api_client.force_authenticate(lead)
    url = f"/api/quality-runs/{run.pk}/annotators/"
    everything = api_client.get(url).json()
    first = api_client.get(url, {"limit": 2})
    assert first.json() == everything[:2] and first["X-Total-Count"] == str(len(everything))
    assert first["Link"].endswith(f'{url}?offset=2&limit=2>; rel="next"')
    last = api_client.get(url, {"offset": 2, "limit": 2})
    assert last.json() == everything[2:4] and ("Link" in last) == (len(everything) > 4)
    assert api_client.get(url, {"limit": 0}).status_code == 400

"""The overview reads a run's class balance from its summary (counted when the run finished), not from its results."""
import pytest

from annotate.models import QualityRun
from tests.annotate.test_audit_api import api, audited  # noqa: F401  (audited: the fixture)

pytestmark = pytest.mark.django_db


def test_class_balance_comes_from_the_runs_summary_when_it_recorded_one(api_client, audited):  # noqa: F811
    project, lead, _, _, run = audited
    api_client.force_authenticate(lead)
    counted = {c["label"]: c["items"] for c in api(api_client, project, "overview/")["class_balance"]}
    assert sum(counted.values()) == 12  # the seed's summary has no balance: counted from the results
    recorded = {label: 0 for label in project.labels} | {project.labels[0]: 7, project.labels[1]: 5}
    QualityRun.objects.filter(pk=run.pk).update(summary={**run.summary, "class_balance": recorded})
    body = api(api_client, project, "overview/")["class_balance"]
    assert {c["label"]: c["items"] for c in body} == recorded
    assert [c["label"] for c in body] == project.labels

"""The audit seeding helper writes a consistent run (the helper itself is tests/annotate/audit_seed.py)."""
import pytest

from annotate.models import Annotation, QualityRun
from tests.annotate.audit_seed import seed_audit


@pytest.mark.django_db
def test_seed_audit_writes_a_consistent_run(make_project, make_items):
    project, lead, people = make_project(annotators=3)
    items = make_items(project, 6)
    run = seed_audit(project, people, items, runs=2)
    assert QualityRun.objects.filter(project=project).count() == 2
    assert run.item_results.count() == 6
    assert all(r.num_answers == 3 for r in run.item_results.all())
    total = sum(sum(map(sum, r.confusion)) for r in run.annotator_results.all())
    assert total == Annotation.objects.filter(project=project).count() == 18

"""The agreement matrices a quality run records in its summary equal the ones counted from its rows."""
import pytest

from annotate.models import Project, QualityRun
from annotate.selectors.audit_agreement import agreement_report
from tests.annotate.test_quality import analyse, crowd  # noqa: F401  (the fixtures)

pytestmark = pytest.mark.django_db


def test_a_runs_recorded_matrices_equal_the_counted_ones(crowd, analyse):  # noqa: F811
    project, *_ = crowd
    run = QualityRun.objects.get(pk=analyse(project).result["quality_run"])
    recorded = run.summary["agreement"]
    assert recorded["labels"] == project.labels
    read = agreement_report(project=project, run=run)
    counted_run = QualityRun.objects.get(pk=run.pk)
    counted_run.summary = {k: v for k, v in run.summary.items() if k != "agreement"}
    counted = agreement_report(project=project, run=counted_run)
    assert read == counted
    assert [read["annotators_vs_consensus"], read["model_vs_consensus"]] == [recorded["annotators_vs_consensus"],
                                                                            recorded["model_vs_consensus"]]
    assert sum(map(sum, read["annotators_vs_consensus"])) == 48 and sum(map(sum, read["model_vs_consensus"])) == 12


def test_a_project_whose_labels_changed_counts_from_the_rows(crowd, analyse):  # noqa: F811
    project, *_ = crowd
    run = QualityRun.objects.get(pk=analyse(project).result["quality_run"])
    Project.objects.filter(pk=project.pk).update(labels=project.labels[:-1])
    project.refresh_from_db()
    report = agreement_report(project=project, run=run)
    assert len(report["annotators_vs_consensus"]) == len(project.labels)  # not the run's recorded 8 x 8
    assert report["annotators_vs_consensus"] == [[0] * len(project.labels)] * len(project.labels)  # nothing comparable

"""Each hand-written PostgreSQL fast path against its ORM twin: the same data in, the same rows and figures out."""
import random
import uuid
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotate import fastpaths
from annotate.exceptions import FERLabError
from annotate.models import Annotation, Assignment, AssignmentStatus, Item, QualityItemResult, QualityRun
from annotate.selectors.audit_annotators import annotator_table
from annotate.selectors.stats import annotator_activity, annotator_stats
from annotate.services.annotations import annotation_correct, annotation_submit
from annotate.services.assignments import assignment_skip, assignments_lease
from annotate.services.priorities import BOOSTED_PRIORITY
from annotate.services.quality import _item_results_insert, _priorities_write
from tests.annotate import db_support

pytestmark = pytest.mark.django_db


postgres_only = db_support.postgres_only(
    "compares the PostgreSQL fast paths with their ORM twins, so it needs PostgreSQL (the test database is not)")


class _Undo(Exception):
    pass


def both(monkeypatch, run):
    """`run()` once with the fast paths and once with their ORM twins, each on the same data (rolled back after).

    Returns ([fast result, twin result], [the SQL each run sent]).
    """
    results, sent = [], []
    for fast in (True, False):
        monkeypatch.setattr(fastpaths, "enabled", lambda fast=fast: fast)
        with CaptureQueriesContext(connection) as queries:
            try:
                with transaction.atomic():
                    results.append(run())
                    raise _Undo
            except _Undo:
                pass
        sent.append("\n".join(q["sql"] for q in queries))
    return results, sent


def fields(instance, *, leave_out=("id",)) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields if f.attname not in leave_out}


def table(queryset, *, order_by, leave_out=("id",)) -> list[dict]:
    return [fields(row, leave_out=leave_out) for row in queryset.order_by(*order_by)]


def member(project, user):
    return project.memberships.select_related("project", "user").get(user=user)


@pytest.fixture
def frozen(monkeypatch):
    """Stop the clock, so both runs stamp the same times (leases, closings, answers)."""
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    return now


@postgres_only
def test_lease_leases_the_same_items_in_the_same_order_as_its_twin(make_project, make_items, monkeypatch, frozen):
    project, _, people = make_project(annotators=5, gold_rate=0.3, overlap_target=2)
    items = make_items(project, 16)
    make_items(project, 3, is_gold=True, gold_label="anger")
    # A varied queue: tied priorities, started items, extra answers wanted, excluded ones, live and lapsed leases.
    for n, item in enumerate(items):
        Item.objects.filter(pk=item.pk).update(
            priority=(0.0, 0.5, 0.9)[n % 3], answer_count=(0, 1, 2, 0)[n % 4], extra_answers=int(n % 7 == 0),
            excluded=n % 11 == 5, lease_count=n % 3 if n % 5 else 0,
            lease_until=frozen + (timedelta(minutes=1) if n % 2 else -timedelta(minutes=1)),
        )
    # Items leased to someone before are never leased to them again.
    for person, item in ((people[0], items[1]), (people[0], items[4]), (people[2], items[2])):
        Assignment.objects.create(project=project, item=item, annotator=person, expires_at=frozen + timedelta(minutes=1),
                                  status=AssignmentStatus.ANSWERED, closed_at=frozen)
    memberships = [member(project, person) for person in people]
    requests = [(m, count, n % 3 != 2) for n, (m, count) in enumerate(zip(memberships * 4, [3, 1, 4, 2, 5, 2, 3, 1, 2, 4] * 2))]

    def run():
        random.seed(7)  # the same gold draws in both runs
        leased, returned_as_stored = [], []
        for membership, count, resume in requests:
            result = assignments_lease(membership=membership, count=count, resume=resume)
            leased.append((result.status, [(a.item_id, a.is_gold, a.item.crop.name) for a in result.assignments]))
            returned_as_stored += [fields(a, leave_out=()) == fields(Assignment.objects.get(pk=a.pk), leave_out=())
                                   for a in result.assignments]
        return {
            "leased": leased, "returned as stored": all(returned_as_stored),
            "assignments": table(Assignment.objects.filter(project=project), order_by=("annotator_id", "item_id")),
            "items": table(Item.objects.filter(project=project), order_by=("id",), leave_out=()),
        }

    (fast, twin), (fast_sql, twin_sql) = both(monkeypatch, run)
    assert "WITH picked" in fast_sql and "WITH picked" not in twin_sql
    assert fast == twin
    assert fast["returned as stored"]
    leased = [lease for _, batch in fast["leased"] for lease in batch]
    # The queue runs dry on the way (the k cap bites): some fresh requests come back short.
    short = [len(batch) < count for (_, batch), (_, count, resume) in zip(fast["leased"], requests) if not resume]
    assert len(leased) > 20 and any(gold for _, gold, _ in leased) and any(short), fast["leased"]


@postgres_only
def test_submit_stores_the_same_rows_and_counts_as_its_twin(make_project, make_items, monkeypatch, frozen):
    project, _, (alice, bob, carol, dave) = make_project(annotators=4, gold_rate=0, overlap_target=2, valence_arousal=True)
    make_items(project, 6)
    (gold,) = make_items(project, 1, is_gold=True, gold_label="anger")
    leases = {p: assignments_lease(membership=member(project, p), count=3).assignments for p in (alice, bob, carol, dave)}
    gold_lease = Assignment.objects.create(project=project, item=gold, annotator=alice, is_gold=True,
                                           expires_at=frozen + timedelta(minutes=5))
    lapsed = leases[bob][0]
    Assignment.objects.filter(pk=lapsed.pk).update(created_at=frozen - timedelta(hours=1), expires_at=frozen - timedelta(minutes=1))
    assignment_skip(annotator=carol, assignment_id=leases[carol][0].pk)
    ids = [uuid.uuid4() for _ in range(12)]
    steps = [
        (alice, leases[alice][0], dict(client_id=ids[0], label="surprise", flags=["low_quality", "occluded"], valence=0.5,
                                       arousal=-0.25, seconds=2.5)),
        (alice, gold_lease, dict(client_id=ids[1], label="anger", seconds=1.0)),
        (alice, leases[alice][1], dict(client_id=ids[2], label="fear", seconds=99999.0, source="api")),  # clipped
        (alice, leases[alice][1], dict(client_id=ids[2], label="sadness")),  # a repeat: the original comes back
        (alice, leases[alice][2], dict(client_id=ids[3], label="fear")),
        (alice, leases[alice][2], dict(client_id=ids[4], label="fear")),  # answered already
        (bob, lapsed, dict(client_id=ids[5], label="neutral")),  # late: accepted while there is room
        (carol, leases[carol][0], dict(client_id=ids[6], label="neutral")),  # skipped, then answered late
        (dave, leases[dave][0], dict(client_id=ids[7], label="joy")),  # not a label
        (dave, leases[dave][0], dict(client_id=ids[8], label="anger", flags=["blurry"])),
        (dave, leases[dave][0], dict(client_id=ids[0], label="anger")),  # someone else's client id
        (dave, leases[alice][0], dict(client_id=ids[9], label="anger")),  # someone else's lease
        (dave, leases[dave][0], dict(client_id=ids[10], label="anger", valence=-1.0, arousal=1.0)),
        (dave, leases[dave][1], dict(client_id=ids[11], label="happiness", seconds=0.0)),
    ]

    def run():
        outcomes, returned_as_stored = [], []
        for person, lease, answer in steps:
            try:
                annotation, created = annotation_submit(annotator=person, assignment_id=lease.pk, **answer)
            except FERLabError as error:
                outcomes.append((type(error).__name__, error.code))
                continue
            outcomes.append((created, fields(annotation)))
            returned_as_stored.append(fields(annotation, leave_out=()) == fields(Annotation.objects.get(pk=annotation.pk), leave_out=()))
        return {
            "outcomes": outcomes, "returned as stored": all(returned_as_stored),
            "annotations": table(Annotation.objects.filter(project=project), order_by=("client_id",)),
            "assignments": table(Assignment.objects.filter(project=project), order_by=("id",), leave_out=()),
            "items": table(Item.objects.filter(project=project), order_by=("id",), leave_out=()),
        }

    (fast, twin), (fast_sql, twin_sql) = both(monkeypatch, run)
    assert "WITH closed" in fast_sql and "WITH closed" not in twin_sql
    assert fast == twin
    assert fast["returned as stored"]
    assert sum(1 for created, _ in fast["outcomes"] if created is True) == 8 and len(fast["annotations"]) == 8


@postgres_only
def test_submit_stores_and_refuses_action_units_as_its_twin(make_project, make_items, monkeypatch, frozen):
    project, _, (alice,) = make_project(annotators=1, gold_rate=0, valence_arousal=True, action_units=[6, 12, 25],
                                        au_intensity=True)
    make_items(project, 4)
    leases = assignments_lease(membership=member(project, alice), count=4).assignments
    ids = [uuid.uuid4() for _ in range(7)]
    steps = [
        (leases[0], dict(client_id=ids[0], label="happiness", valence=0.5, arousal=0.25, action_units={"12": 4, "6": 1})),
        (leases[0], dict(client_id=ids[0], label="happiness", valence=0.5, arousal=0.25, action_units={"6": 1, "12": 4})),
        (leases[0], dict(client_id=ids[0], label="happiness", valence=0.5, arousal=0.25, action_units={"6": 2})),  # reused
        (leases[1], dict(client_id=ids[1], label="fear", action_units={"4": 1})),  # not asked
        (leases[1], dict(client_id=ids[2], label="fear", action_units={"12": 6})),  # beyond E
        (leases[1], dict(client_id=ids[3], label="fear", valence="0.5")),  # not a number
        (leases[1], dict(client_id=ids[4], label="fear", action_units={"25": 0})),
        (leases[2], dict(client_id=ids[5], label="neutral", action_units={})),  # as good as none
        (leases[3], dict(client_id=ids[6], label="neutral")),
    ]

    def run():
        outcomes = []
        for lease, answer in steps:
            try:
                annotation, created = annotation_submit(annotator=alice, assignment_id=lease.pk, **answer)
            except FERLabError as error:
                outcomes.append((type(error).__name__, error.code))
                continue
            outcomes.append((created, fields(annotation)))
        return {"outcomes": outcomes,
                "annotations": table(Annotation.objects.filter(project=project), order_by=("client_id",)),
                "items": table(Item.objects.filter(project=project), order_by=("id",), leave_out=())}

    (fast, twin), (fast_sql, twin_sql) = both(monkeypatch, run)
    assert "WITH closed" in fast_sql and "WITH closed" not in twin_sql
    assert fast == twin
    stored = {a["assignment_id"]: a["action_units"] for a in fast["annotations"]}
    assert [stored[lease.pk] for lease in leases] == [{"6": 1, "12": 4}, {"25": 0}, None, None]
    assert [o[1] for o in fast["outcomes"] if o[0] in ("Conflict", "ValidationFailed")] == [
        "client_id_reused", "action_unit_not_asked", "invalid_au_value", "invalid_valence_arousal"]


def _answer_as(project, person, *, seconds, corrected: dict[int, float | None]):
    """`person` answers one face per entry of `seconds`; the answers at the positions in `corrected` are undone."""
    leases = assignments_lease(membership=member(project, person), count=len(seconds)).assignments
    for n, (lease, s) in enumerate(zip(leases, seconds)):
        answer, _ = annotation_submit(annotator=person, assignment_id=lease.pk, client_id=uuid.uuid4(), label="anger", seconds=s)
        if n in corrected:
            annotation_correct(annotator=person, replaces=answer.client_id, client_id=uuid.uuid4(), label="fear",
                               seconds=corrected[n])


def _rounded(figures):
    """percentile_cont and Python's median interpolate with different float operations (last-digit differences)."""
    if isinstance(figures, dict):
        return {k: _rounded(v) for k, v in figures.items()}
    if isinstance(figures, list):
        return [_rounded(v) for v in figures]
    return round(figures, 9) if isinstance(figures, float) else figures


def test_activity_is_one_set_of_figures_for_the_stats_and_the_audit_table(make_project, make_items):
    project, _, (alice, bob, carol) = make_project(annotators=3, gold_rate=0, overlap_target=3)
    make_items(project, 5)
    _answer_as(project, alice, seconds=[1.0, 2.0, 4.0, None], corrected={0: 100.0, 3: None})
    _answer_as(project, bob, seconds=[0.1, 0.7], corrected={})
    activity = _rounded(annotator_activity(project=project))
    assert {k: v for k, v in activity[alice.pk].items() if k != "last_answer_at"} == {
        "answers": 4, "corrections": 2, "median_seconds": 2.0,  # the corrections' seconds are not answers' times
    }
    assert activity[bob.pk]["median_seconds"] == 0.4 and carol.pk not in activity
    stats = {p.pk: annotator_stats(project=project, annotator=p) for p in (alice, bob, carol)}
    rows = {row["user_id"]: row for row in annotator_table(project=project, run=None)[1]}
    for person in (alice, bob):
        mine = {k: stats[person.pk][k] for k in ("answers", "corrections", "median_seconds", "last_answer_at")}
        assert _rounded(mine) == activity[person.pk]
        assert {k: rows[person.pk][k] for k in ("answers", "corrections", "median_seconds")} == {
            k: mine[k] for k in ("answers", "corrections", "median_seconds")}
        assert rows[person.pk]["last_answer_at"] == mine["last_answer_at"].isoformat()
    assert (stats[carol.pk]["answers"], stats[carol.pk]["median_seconds"], stats[carol.pk]["last_answer_at"]) == (0, None, None)
    assert (rows[carol.pk]["answers"], rows[carol.pk]["last_answer_at"]) == (0, None)


@postgres_only
def test_activity_gives_the_same_figures_as_its_twin(make_project, make_items, monkeypatch):
    project, _, people = make_project(annotators=4, gold_rate=0, overlap_target=4)
    make_items(project, 6)
    _answer_as(project, people[0], seconds=[1.0, 2.0, 4.0, None], corrected={0: 100.0, 3: None})
    _answer_as(project, people[1], seconds=[0.1, 0.7, 0.3, 0.9], corrected={1: 0.2})
    _answer_as(project, people[2], seconds=[None, None], corrected={})

    def run():
        return {
            "activity": annotator_activity(project=project),
            "one": annotator_activity(project=project, annotator_id=people[1].pk),
            "stats": [annotator_stats(project=project, annotator=p) for p in people],
            "table": annotator_table(project=project, run=None)[1],
        }

    (fast, twin), (fast_sql, twin_sql) = both(monkeypatch, run)
    assert "percentile_cont" in fast_sql and "percentile_cont" not in twin_sql
    assert _rounded(fast) == _rounded(twin)
    assert set(fast["activity"]) == {p.pk for p in people[:3]} and list(fast["one"]) == [people[1].pk]


def _priority_queue(project, *, n: int) -> tuple[list[int], list[float], dict[int, float]]:
    """n items in every boost state, a run's new priorities for all but the last, and the priorities expected after."""
    k = project.overlap_target
    states = [  # (priority, answer_count, extra_answers): boosts still waiting for answers are spared
        (BOOSTED_PRIORITY, 0, 1), (BOOSTED_PRIORITY + 1, k + 1, 1), (BOOSTED_PRIORITY, k, 1), (0.3, 0, 0),
        (BOOSTED_PRIORITY - 0.5, 0, 0), (0.9, k, 0),
    ]
    items = Item.objects.bulk_create([
        Item(project=project, crop=f"items/crop/{i}.png", content_hash=f"{i:064x}", width=48, height=48,
             priority=states[i % len(states)][0], answer_count=states[i % len(states)][1],
             extra_answers=states[i % len(states)][2])
        for i in range(n)
    ])
    ids = [item.pk for item in items[:-1]]
    values = [float("nan") if i % 10 == 4 else round(0.001 * i, 6) for i in range(len(ids))]
    expected = {item.pk: item.priority for item in items}
    for i, (pk, value) in enumerate(zip(ids, values)):
        priority, answers, extra = states[i % len(states)]
        if not (priority >= BOOSTED_PRIORITY and answers < k + extra):
            expected[pk] = 0.0 if value != value else value
    return ids, values, expected


@postgres_only
def test_priorities_are_the_same_as_its_twin_and_spare_waiting_boosts(make_project, monkeypatch):
    project, _, _ = make_project(annotators=0, overlap_target=2)
    ids, values, expected = _priority_queue(project, n=60)

    def run():
        _priorities_write(project=project, item_ids=np.array(ids), priority=np.array(values))
        return dict(Item.objects.filter(project=project).values_list("pk", "priority"))

    (fast, twin), (fast_sql, twin_sql) = both(monkeypatch, run)
    assert "unnest" in fast_sql and "unnest" not in twin_sql
    assert fast == twin == expected
    assert sum(p >= BOOSTED_PRIORITY for p in fast.values()) == 20  # the waiting boosts, spared


def test_priorities_spare_waiting_boosts_across_write_batches(make_project):
    """On any backend, over more items than one statement of the ORM twin takes on SQLite."""
    project, _, _ = make_project(annotators=0, overlap_target=2)
    ids, values, expected = _priority_queue(project, n=1000)
    _priorities_write(project=project, item_ids=np.array(ids), priority=np.array(values))
    assert dict(Item.objects.filter(project=project).values_list("pk", "priority")) == expected


@postgres_only
def test_item_results_copy_stores_the_same_rows_as_its_twin(make_project, make_items, monkeypatch):
    project, _, _ = make_project(annotators=0)
    items = make_items(project, 4)
    run_row = QualityRun.objects.create(project=project)
    rows = [
        {"item_id": items[0].pk, "num_answers": 3, "votes": {"anger": 2, "fear": 1}, "consensus_label": "anger",
         "consensus_quality": 0.625, "label_quality": None, "label_issue": False, "active_learning_score": 0.125,
         "model_label": "anger", "model_confidence": 0.9},
        {"item_id": items[1].pk, "num_answers": 0, "votes": {}, "consensus_label": "", "consensus_quality": None,
         "label_quality": None, "label_issue": False, "active_learning_score": None, "model_label": "neutral",
         "model_confidence": 0.4},
        {"item_id": items[2].pk, "num_answers": 1, "votes": {'say "cheese"\t\\': 1}, "consensus_label": "not_a_face",
         "consensus_quality": None, "label_quality": 0.05, "label_issue": True, "active_learning_score": 1.0,
         "model_label": "happiness", "model_confidence": 1.0},
    ]

    def run():
        _item_results_insert(run=run_row, rows=rows)
        return table(QualityItemResult.objects.filter(run=run_row), order_by=("item_id",))

    (fast, twin), (fast_sql, twin_sql) = both(monkeypatch, run)
    insert = f'INSERT INTO "{QualityItemResult._meta.db_table}"'
    assert insert not in fast_sql and insert in twin_sql  # the fast run went by COPY
    assert fast == twin
    assert [{k: row[k] for k in rows[0]} for row in fast] == rows


@postgres_only
def test_version_entries_copy_stores_the_same_rows_as_its_twin(make_project, make_items, monkeypatch):
    from annotate.models import DatasetVersion, DatasetVersionItem
    from annotate.services.versions import _entries_insert

    project, _, _ = make_project(annotators=0)
    items = make_items(project, 3)
    version = DatasetVersion.objects.create(project=project, number=1)
    rows = [
        {"item_id": items[0].pk, "content_hash": items[0].content_hash, "label": "anger", "label_source": "consensus",
         "soft_label": {"anger": 0.666667, "fear": 0.333333}, "votes": {"anger": 2, "fear": 1}, "num_answers": 3,
         "quality": 0.61, "label_issue": False, "label_score": None, "model_label": "anger", "model_confidence": 0.9,
         "flags": {"occluded": 1}, "reference_label": "", "split": "Training", "duplicate_group": items[0].pk},
        {"item_id": items[1].pk, "content_hash": items[1].content_hash, "label": "contempt", "label_source": "review",
         "soft_label": {"contempt": 1.0}, "votes": {}, "num_answers": 0, "quality": None, "label_issue": True,
         "label_score": 0.1, "model_label": "", "model_confidence": None, "flags": {}, "reference_label": 'a "b"\t\\',
         "split": "", "duplicate_group": None},
    ]

    def run():
        _entries_insert(version=version, entries=rows)
        return table(DatasetVersionItem.objects.filter(version=version), order_by=("item_id",))

    (fast, twin), (fast_sql, twin_sql) = both(monkeypatch, run)
    insert = f'INSERT INTO "{DatasetVersionItem._meta.db_table}"'
    assert insert not in fast_sql and insert in twin_sql  # the fast run went by COPY
    assert fast == twin
    assert [{k: row[k] for k in rows[0]} for row in fast] == rows

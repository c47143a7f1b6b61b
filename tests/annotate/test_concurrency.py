"""50 annotators in parallel threads drain a k=3 project through the services on the real PostgreSQL."""
import random
import threading
import time
import uuid
from collections import Counter

import pytest
from django.db import connection, connections

from annotate import fastpaths
from annotate.exceptions import Conflict
from annotate.models import Annotation, Assignment, Item
from annotate.services.annotations import annotation_submit
from annotate.services.assignments import assignment_skip, assignments_lease

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ANNOTATORS, ITEMS, K = 50, 60, 3


@pytest.mark.parametrize("path", ["fast paths", "orm"])
def test_fifty_annotators_drain_a_project_without_overfilling_or_losing_answers(make_project, make_items, monkeypatch, path):
    if connection.vendor != "postgresql":
        pytest.skip("row locks with SKIP LOCKED need PostgreSQL; SQLite serialises writers, so there is no race to test")
    if path == "orm":
        # The portable ORM twins of the lease and the submit (used on SQLite) must hold on PostgreSQL's concurrency too.
        monkeypatch.setattr(fastpaths, "enabled", lambda: False)
    project, _, people = make_project(annotators=ANNOTATORS, gold_rate=0, overlap_target=K)
    make_items(project, ITEMS)
    memberships = {m.user_id: m for m in project.memberships.select_related("project", "user")}
    acknowledged: list[tuple[uuid.UUID, int]] = []  # (client id, annotation id) the service confirmed
    repeats: list[bool] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(ANNOTATORS)

    def annotate(person, seed: int):
        rng = random.Random(seed)
        try:
            start.wait()
            while True:
                result = assignments_lease(membership=memberships[person.pk], count=rng.choice([1, 2, 3]))
                if not result.assignments:
                    # Faces leased to others can still come back (skips): stop only once nothing is in flight.
                    if not Assignment.objects.filter(project=project, status="open").exists():
                        break
                    time.sleep(0.01)
                    continue
                for lease in result.assignments:
                    if rng.random() < 0.1:
                        assignment_skip(annotator=person, assignment_id=lease.pk)
                        continue
                    client_id, label = uuid.uuid4(), rng.choice(project.labels)
                    try:
                        answer, created = annotation_submit(
                            annotator=person, assignment_id=lease.pk, client_id=client_id, label=label,
                        )
                    except Conflict:
                        continue
                    # Resend some submits, as a flaky network would: they must create nothing.
                    if rng.random() < 0.3:
                        again, created_again = annotation_submit(
                            annotator=person, assignment_id=lease.pk, client_id=client_id, label=label,
                        )
                        with lock:
                            repeats.append(not created_again and again.pk == answer.pk)
                    with lock:
                        acknowledged.append((client_id, answer.pk))
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=annotate, args=(person, n)) for n, person in enumerate(people)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)

    answers = list(Annotation.objects.filter(project=project).values_list("item_id", "annotator_id", "client_id", "pk"))
    per_item = Counter(item for item, _, _, _ in answers)
    assert max(per_item.values()) <= K
    assert len({(item, person) for item, person, _, _ in answers}) == len(answers)  # nobody answered an item twice
    stored = {client_id: pk for _, _, client_id, pk in answers}
    assert all(stored.get(client_id) == pk for client_id, pk in acknowledged)  # every acknowledged answer is kept
    assert len(answers) == len(acknowledged)  # and resent ones created nothing
    assert repeats and all(repeats)
    counts = dict(Item.objects.filter(project=project).values_list("pk", "answer_count"))
    assert all(counts[item] == per_item.get(item, 0) for item in counts)
    # Skips return items to the pool, so once everyone is out of work every item has its k answers.
    assert sorted(per_item.values()) == [K] * ITEMS
    assert not Assignment.objects.filter(project=project, status="open").exists()
    assert not Item.objects.filter(project=project, lease_count__gt=0).exists()  # every live lease was uncounted

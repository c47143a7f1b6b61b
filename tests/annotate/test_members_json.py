"""The members API's rows written as JSON by PostgreSQL equal the ORM twin's (annotate.fastpaths.members)."""
import json
from datetime import datetime, timedelta, timezone as tz

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from annotate.fastpaths.members import members_json_orm, members_json_postgres
from annotate.models import Assignment, Membership
from annotate.selectors.people import FIRST_SIGN_IN_GROUP, member_list
from tests.annotate.audit_seed import seed_audit

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the fast path is PostgreSQL's")
def test_postgres_writes_the_orm_twins_rows_in_its_order(make_project, make_items):
    project, lead, people = make_project(annotators=4)
    items = make_items(project, 6)
    seed_audit(project, people, items, runs=1)
    Membership.objects.filter(project=project, user=people[1]).update(paused=True, message="Slow down, please")
    Group.objects.get_or_create(name=FIRST_SIGN_IN_GROUP)[0].user_set.add(people[2])
    people[0].last_login = datetime(2026, 3, 1, 12, 0, 0, tzinfo=tz.utc)  # whole seconds: no fraction written
    people[0].save(update_fields=["last_login"])
    people[3].last_login = datetime(2026, 3, 1, 12, 0, 0, 4500, tzinfo=tz.utc)
    people[3].save(update_fields=["last_login"])
    Assignment.objects.create(project=project, item=items[0], annotator=people[3],
                              expires_at=timezone.now() + timedelta(minutes=5))
    rows = member_list(project=project)
    answers = {r["member"]["user_id"]: r["answers"] for r in rows}
    fast = members_json_postgres(project=project, user_ids=list(answers), answers=answers, group=FIRST_SIGN_IN_GROUP)
    assert json.loads(fast) == json.loads(members_json_orm(rows=rows))
    by_user = {r["member"]["user_id"]: r for r in json.loads(fast)}
    assert json.loads(fast)[0]["member"]["user_id"] == lead.pk
    assert by_user[people[0].pk]["last_login"] == "2026-03-01T12:00:00Z"
    assert by_user[people[3].pk]["last_login"] == "2026-03-01T12:00:00.004500Z"
    assert by_user[people[3].pk]["open_leases"] == 1
    assert by_user[people[2].pk]["must_set_password"] and by_user[people[1].pk]["member"]["paused"]
    assert sum(r["answers"] for r in by_user.values()) > 0

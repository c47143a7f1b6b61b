"""server.rows: hand-written lookups give the same instances as the ORM (on SQLite and PostgreSQL)."""
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate.access import access_membership
from annotate.models import Membership, Project
from server.auth import SessionUserBackend


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_membership_lookup_matches_the_orm_in_one_query(make_project):
    project, _, (annotator,) = make_project(annotators=1, labels=["neutral", "happiness"], flags=["occluded"],
                                            valence_arousal=True)
    Membership.objects.filter(user=annotator).update(paused=True, message="Take a break")
    with CaptureQueriesContext(connection) as queries:
        membership = access_membership(user=annotator, project_id=project.pk)
        project_seen = membership.project  # already loaded with the membership
    assert len(queries) == 1
    assert _fields(membership) == _fields(Membership.objects.get(user=annotator, project=project))
    assert _fields(project_seen) == _fields(Project.objects.get(pk=project.pk))
    assert project_seen.labels == ["neutral", "happiness"] and project_seen.valence_arousal is True  # JSON, booleans
    assert membership.paused is True and membership.created_at.tzinfo is not None  # booleans, aware datetimes


def test_session_user_backend_matches_the_orm_and_refuses_inactive_users(make_user):
    user = make_user("someone")
    backend = SessionUserBackend()
    assert _fields(backend.get_user(user.pk)) == _fields(get_user_model().objects.get(pk=user.pk))
    assert backend.get_user("not-a-number") is None
    assert backend.get_user(10**9) is None
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert backend.get_user(user.pk) is None

"""`manage.py demo` (setup part, without --serve): users, project and sample items, idempotent."""
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from annotate.management.commands.demo import ANNOTATORS, LEAD, SLUG
from annotate.models import Item, Membership, Project


@pytest.mark.django_db
def test_demo_sets_up_users_project_and_sample_and_is_safe_to_rerun(capsys):
    call_command("demo")
    out = capsys.readouterr().out
    project = Project.objects.get(slug=SLUG)
    assert project.name == "FER+ demo"
    assert Item.objects.filter(project=project).count() == 300
    assert Item.objects.filter(project=project, reference_votes__isnull=False).count() == 300
    User = get_user_model()
    lead = User.objects.get(username=LEAD[0])
    assert lead.is_staff and lead.check_password(LEAD[1])
    assert Membership.objects.get(project=project, user=lead).role == "lead"
    for username, password in ANNOTATORS:
        user = User.objects.get(username=username)
        assert user.check_password(password) and not user.is_staff
        assert Membership.objects.get(project=project, user=user).role == "annotator"
        assert f"{username} / {password}" in out
    assert f"{LEAD[0]} / {LEAD[1]}" in out and "http://127.0.0.1:8000/" in out

    Item.objects.filter(project=project, source_row__gte=250).delete()  # as if the first run was interrupted
    call_command("demo")
    assert Item.objects.filter(project=project, reference_votes__isnull=False).count() == 300

    lead.set_password("changed")
    lead.save()
    call_command("demo", port=8123)
    out = capsys.readouterr().out
    assert "imported already (300 items)" in out and "http://127.0.0.1:8123/" in out
    assert Project.objects.filter(slug=SLUG).count() == 1
    assert Item.objects.filter(project=project).count() == 300
    assert Membership.objects.filter(project=project).count() == 4
    assert User.objects.get(username=LEAD[0]).check_password(LEAD[1])

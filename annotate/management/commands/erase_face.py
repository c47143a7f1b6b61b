"""manage.py erase_face --project SLUG --item ID --reason TEXT [--by USERNAME]: erase one face's images everywhere."""
import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotate.exceptions import FERLabError
from annotate.models import Project
from annotate.services.erasure import item_erase


class Command(BaseCommand):
    help = ("Erase a face on request (faces are biometric data): its original, crop and every built export copy are "
            "deleted, exports are rebuilt without it; its answers stay. Prints what was removed, as JSON.")

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="The project's slug.")
        parser.add_argument("--item", required=True, type=int, help="The item id of the face.")
        parser.add_argument("--reason", required=True, help="Why (kept in the project's audit log).")
        parser.add_argument("--by", default="", help="Username recorded as the one who erased it (default: the system).")

    def handle(self, *args, project, item, reason, by, **options):
        found = Project.objects.filter(slug=project).first()
        if found is None:
            raise CommandError(f"No project with the slug {project!r}.")
        actor = None
        if by:
            actor = get_user_model().objects.filter(username=by).first()
            if actor is None:
                raise CommandError(f"No user {by!r}.")
        try:
            report = item_erase(project=found, item_id=item, actor=actor, reason=reason)
        except FERLabError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps(report.as_dict(), indent=2))

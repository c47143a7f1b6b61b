"""`manage.py freeze_version --project SLUG [--policy JSON] [--name NAME]`: freeze a dataset version, print its id and hash."""
import json

from django.core.management.base import BaseCommand, CommandError

from annotate.exceptions import FERLabError
from annotate.models import Project
from annotate.services.versions import version_freeze


class Command(BaseCommand):
    help = "Freeze a dataset version of a project under a label policy; prints the version's id and content hash."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="the project's slug")
        parser.add_argument("--policy", default="{}", help='label policy as JSON, e.g. \'{"min_answers": 2, "split": "stratified"}\'')
        parser.add_argument("--name", default="")

    def handle(self, *args, project, policy, name, **options):
        found = Project.objects.filter(slug=project).first()
        if found is None:
            raise CommandError(f"No project with the slug {project!r}.")
        try:
            version, created = version_freeze(project=found, policy=json.loads(policy), name=name)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--policy is not JSON: {exc}") from None
        except FERLabError as exc:
            raise CommandError(f"{exc.message} {json.dumps(exc.details) if exc.details else ''}".strip()) from None
        stats = version.stats
        self.stdout.write(f"{'frozen' if created else 'unchanged: the same as'} version {version.number} "
                          f"({version.item_count} faces, {stats.get('left_out_total', 0)} left out)")
        self.stdout.write(f"id {version.pk}")
        self.stdout.write(f"sha256 {version.sha256}")

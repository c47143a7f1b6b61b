"""`manage.py demo [--serve] [--port 8000]`: a ready-to-label FER+ demo project from the bundled sample."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from annotate.models import Item, Project, Role
from annotate.services.imports import items_import
from annotate.services.projects import membership_set, project_create, user_ensure
from server.settings import env

SAMPLE = Path(settings.BASE_DIR) / "data" / "sample"
SLUG = "ferplus-demo"
LEAD = ("demo-lead", "demo-lead-pass")
ANNOTATORS = [(f"demo-annotator-{i}", f"demo-annotator-{i}-pass") for i in (1, 2, 3)]
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
SAMPLE_FACES = 300
# The demo's one worker takes both queues: light jobs (imports) and the ones that load torch.
WORKER_QUEUES = ",".join(settings.FERLAB_JOB_QUEUES.values())


def demo_setup(*, log=print) -> Project:
    """Users, the project and the sample's items; safe to run again (passwords reset, nothing duplicated)."""
    lead = user_ensure(username=LEAD[0], password=LEAD[1])
    if not lead.is_staff:
        lead.is_staff = True  # staff: may create projects and open the admin; not a superuser
        lead.save(update_fields=["is_staff"])
    project = Project.objects.filter(slug=SLUG).first() or project_create(
        name="FER+ demo", slug=SLUG, created_by=lead,
        description="300 real FER2013 faces (mostly PublicTest) with their FER+ crowd votes as reference.",
    )
    membership_set(project=project, user=lead, role=Role.LEAD)
    for username, password in ANNOTATORS:
        membership_set(project=project, user=user_ensure(username=username, password=password), role=Role.ANNOTATOR)
    done = Item.objects.filter(project=project, reference_votes__isnull=False).count()
    if done >= SAMPLE_FACES:
        log(f"The sample is imported already ({done} items).")
        return project
    # First run, or a run that was interrupted: importing again only adds what is missing.
    for name in ("fer2013_sample.csv", "fer2013new_sample.csv"):
        report = items_import(project=project, path=str(SAMPLE / name))
        if not report.ok:
            raise CommandError(report.error)
        log(f"Imported {name}: {report.imported} new items, {report.updated} items given FER+ votes, "
            f"{report.counts['skipped']} skipped.")
    return project


class Command(BaseCommand):
    help = "Set up the FER+ demo (migrate, sample, users) and, with --serve, run the web server and a worker."

    def add_arguments(self, parser):
        parser.add_argument("--serve", action="store_true", help="run the web server (and a Celery worker if Redis is up)")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, serve, port, **options):
        call_command("migrate", interactive=False, verbosity=0)
        project = demo_setup(log=self.stdout.write)
        url = f"http://127.0.0.1:{port}/"
        self.stdout.write(self.style.SUCCESS(f"\nFERLab demo: project {project.name!r} (id {project.pk})"))
        self.stdout.write(f"  open          {url}  (labelling: {url}projects/{project.pk}/label/)")
        self.stdout.write(f"  ML lead       {LEAD[0]} / {LEAD[1]}")
        for username, password in ANNOTATORS:
            self.stdout.write(f"  annotator     {username} / {password}")
        if serve:
            self.serve(port)

    def serve(self, port: int) -> None:
        """runserver (and a worker when Redis answers) as child processes; Ctrl-C stops both."""
        # Ctrl-C and `kill` both end in the cleanup below (SIGINT may arrive ignored from a background shell).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        broker = env.CELERY_BROKER_URL or DEFAULT_BROKER
        child_env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        children: list[subprocess.Popen] = []
        if env.reachable(broker):
            child_env["CELERY_BROKER_URL"] = broker
            self.stdout.write(f"  jobs          one Celery worker on {broker}, consuming the queues {WORKER_QUEUES}")
            children.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "server", "worker", "-Q", WORKER_QUEUES, "-c", "2", "-l", "INFO"],
                cwd=settings.BASE_DIR, env=child_env,
            ))
        else:
            child_env.pop("CELERY_BROKER_URL", None)
            self.stdout.write(f"  jobs          in-process (no Redis at {broker})")
        self.stdout.write(self.style.SUCCESS(f"\nServing on http://127.0.0.1:{port}/  (Ctrl-C to stop)\n"))
        web = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], cwd=settings.BASE_DIR, env=child_env,
        )
        children.append(web)
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            raise CommandError("A demo process stopped unexpectedly; see its output above.")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping...")
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not abandon the children
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            for child in reversed(children):
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()

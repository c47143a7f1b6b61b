"""`manage.py export_version VERSION --format FORMAT --out PATH`: build a version's export here, copy it to PATH."""
import os
import shutil
import time

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotate.exceptions import FERLabError
from annotate.management.job_bar import JobBar
from annotate.models import JOB_FINISHED, DatasetVersion, Export, ExportFormat, Job
from annotate.services.exports import export_file_name, export_is_finished, export_request
from annotate.services.jobs import job_cancel, job_run

POLL_SECONDS = 0.2


class Command(BaseCommand):
    help = "Build a dataset version's export in one format (in this process, as an export job) and copy it to a path."

    def add_arguments(self, parser):
        parser.add_argument("version", type=int, help="the dataset version's id (freeze_version prints it)")
        parser.add_argument("--format", required=True, choices=ExportFormat.values)
        parser.add_argument("--out", required=True, help="file to write, or a folder to write it into")

    def handle(self, *args, version, format, out, **options):
        found = DatasetVersion.objects.select_related("project").filter(pk=version).first()
        if found is None:
            raise CommandError(f"No dataset version with the id {version}.")
        bar = JobBar(find_job=lambda: Job.objects.filter(exports__version=found, exports__format=format).order_by("-id").first(),
                     desc=format, unit="face", stream=self.stderr._out)
        bar.start()
        try:
            export = self._build(found, format)
        finally:
            bar.stop()
        target = os.path.join(out, export_file_name(export=export)) if os.path.isdir(out) else out
        with default_storage.open(export.file, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        self.stdout.write(f"wrote {os.path.abspath(target)} ({export.size:,} bytes, sha256 {export.sha256})")

    def _build(self, version: DatasetVersion, format: str) -> Export:
        """The finished export: made by a job run here, or waited for when a worker runs it already."""
        try:
            with transaction.atomic():
                export = export_request(version=version, format=format)
        except FERLabError as exc:
            raise CommandError(exc.message) from None
        job = export.job
        try:
            if not export_is_finished(export=export) and job is not None:
                job_run(job_id=job.pk)  # nothing to do when a worker holds the job (or it ran on commit)
                job.refresh_from_db()
                while job.status not in JOB_FINISHED:
                    time.sleep(POLL_SECONDS)
                    job.refresh_from_db()
        except KeyboardInterrupt:
            if job is not None:
                job_cancel(job=job)
            raise CommandError("Interrupted: the export job was cancelled.") from None
        export.refresh_from_db()
        if not export_is_finished(export=export):
            raise CommandError(f"The export job {job.pk if job else '?'} {job.status if job else 'did not run'}: {job.error if job else ''}")
        return export

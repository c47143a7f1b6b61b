"""`manage.py export_version VERSION --format FORMAT --out PATH`: build a version's export here, copy it to PATH."""
import os
import shutil
import threading
import time

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connection, transaction
from tqdm import tqdm

from annotate.exceptions import FERLabError
from annotate.models import JOB_FINISHED, DatasetVersion, Export, ExportFormat, Job
from annotate.services.exports import export_file_name, export_is_finished, export_request
from annotate.services.jobs import job_cancel, job_run

POLL_SECONDS = 0.2


class _ProgressBar(threading.Thread):
    """Shows the export job's progress from its row, whoever runs it (this process or a worker that took it first)."""

    def __init__(self, *, version: DatasetVersion, format: str, stream):
        super().__init__(name="export-progress", daemon=True)
        self.version, self.format, self.stream = version, format, stream
        self.stopped = threading.Event()
        self.bar: tqdm | None = None

    def run(self) -> None:
        try:
            while not self.stopped.wait(POLL_SECONDS):
                self.show()
        finally:
            connection.close()

    def show(self) -> None:
        try:
            job = Job.objects.filter(exports__version=self.version, exports__format=self.format).order_by("-id").first()
        except Exception:  # the database is busy with the export itself (SQLite): try again at the next tick
            close_old_connections()
            return
        if job is None or not job.progress_total:
            return
        if self.bar is None:
            self.bar = tqdm(total=job.progress_total, unit="face", desc=self.format, file=self.stream, dynamic_ncols=True)
        self.bar.total = job.progress_total
        self.bar.set_postfix_str(job.stage, refresh=False)
        self.bar.update(job.progress_done - self.bar.n)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)
        if self.bar is not None:
            self.bar.close()


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
        bar = _ProgressBar(version=found, format=format, stream=self.stderr._out)
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

"""A terminal progress bar fed from a job's row, for commands that wait on a job (whoever runs it)."""
import threading
from collections.abc import Callable

from django.db import close_old_connections, connection
from tqdm import tqdm

from annotate.models import Job

POLL_SECONDS = 0.2


class JobBar(threading.Thread):
    """Polls ``find_job()`` (the job, or None while it does not exist yet) and shows its progress and stage."""

    def __init__(self, *, find_job: Callable[[], Job | None], desc: str, unit: str, stream, poll: float = POLL_SECONDS):
        super().__init__(name=f"{desc}-progress", daemon=True)
        self.find_job, self.desc, self.unit, self.stream, self.poll = find_job, desc, unit, stream, poll
        self.stopped = threading.Event()
        self.bar: tqdm | None = None

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.poll):
                self.show()
        finally:
            connection.close()

    def show(self) -> None:
        try:
            job = self.find_job()
        except Exception:  # the database is busy with the job itself (SQLite): try again at the next tick
            close_old_connections()
            return
        if job is None or not job.progress_total:
            return
        if self.bar is None:
            self.bar = tqdm(total=job.progress_total, unit=self.unit, desc=self.desc, file=self.stream, dynamic_ncols=True)
        self.bar.total = job.progress_total
        self.bar.set_postfix_str(job.stage, refresh=False)
        self.bar.update(job.progress_done - self.bar.n)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)
        if self.bar is not None:
            self.bar.close()

"""`manage.py train_model --version ID [options]`: train a model version on a dataset version, wait, print its figures.

The training is an ordinary `train` job: an `ml` worker runs it if one takes it first, else this process does. The
last line on stdout is one JSON object: the model version, its training and its figures on the evaluation set.
"""
import json
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotate.exceptions import FERLabError
from annotate.management.job_bar import JobBar
from annotate.models import JOB_FINISHED, DatasetVersion, Job, JobStatus, ModelVersion
from annotate.services.jobs import job_cancel, job_run
from annotate.services.registry import evaluation_for
from annotate.services.training import CHOICES, DEFAULTS, training_start

POLL_SECONDS = 0.5


class Command(BaseCommand):
    help = "Train a model version on a dataset version (a `train` job), wait for it, and print its figures as JSON."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version names the dataset version here (as the issue and the README say), not Django's version.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--version", type=int, required=True, help="the dataset version's id (freeze_version prints it)")
        parser.add_argument("--targets", choices=CHOICES["targets"], default=DEFAULTS["targets"])
        parser.add_argument("--start", choices=CHOICES["start"], default=DEFAULTS["start"])
        parser.add_argument("--device", choices=CHOICES["device"], default=DEFAULTS["device"])
        for name in ("epochs", "batch_size", "seed"):
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int, default=None)
        for name in ("lr", "weight_decay", "label_smoothing", "dropout"):
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=float, default=None)
        parser.add_argument("--no-augment", dest="augment", action="store_false", default=None)

    def handle(self, *args, version, **options):
        found = DatasetVersion.objects.select_related("project").filter(pk=version).first()
        if found is None:
            raise CommandError(f"No dataset version with the id {version}.")
        chosen = {k: options[k] for k in DEFAULTS if options.get(k) is not None}
        bar = None
        try:
            with transaction.atomic():  # the bar starts before the job is sent: with in-process tasks it runs on commit
                job = training_start(project=found.project, version_id=found.pk, options=chosen)
                bar = JobBar(find_job=lambda: Job.objects.filter(pk=job.pk).first(), desc="training", unit="epoch",
                             stream=self.stderr._out, poll=POLL_SECONDS)
                bar.start()
            job_run(job_id=job.pk)  # returns at once when a worker holds the job (or it already ran)
            job.refresh_from_db()
            while job.status not in JOB_FINISHED:
                time.sleep(POLL_SECONDS)
                job.refresh_from_db()
        except FERLabError as exc:
            raise CommandError(exc.message) from None
        except KeyboardInterrupt:
            job_cancel(job=job)
            raise CommandError(f"Interrupted: training job {job.pk} was cancelled.") from None
        finally:
            if bar is not None:
                bar.stop()
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(f"Training job {job.pk} {job.status}: {job.error}")
        model_version = ModelVersion.objects.get(pk=job.result["model_version"])
        found.project.refresh_from_db()  # the job took the evaluation set's truth
        evaluation = evaluation_for(project=found.project, model_version=model_version)
        curves = model_version.curves
        self.stdout.write(json.dumps({
            "model_version": model_version.pk, "name": model_version.name, "dataset_version": found.pk,
            "dataset_sha256": model_version.dataset_sha256, "sha256": model_version.sha256, "job": job.pk,
            "targets": model_version.recipe["targets"], "start": model_version.recipe["start"], "device": model_version.device,
            "train_faces": model_version.recipe["train_faces"], "train_seconds": model_version.train_seconds,
            "epochs_run": len(curves), "val_accuracy": curves[-1].get("val_accuracy") if curves else None,
            "evaluation": {k: v for k, v in evaluation.metrics.items() if k != "confusion"} if evaluation else None,
        }))

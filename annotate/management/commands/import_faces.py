"""`manage.py import_faces --project SLUG PATH`: import FER2013 / FER+ csv files, image folders or zips."""
import os

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotate.exceptions import ValidationFailed
from annotate.models import Project
from annotate.services.audit_log import audit_record
from annotate.services.imports import FORMATS, import_options_check, items_import
from annotate.services.imports_base import ImportReport

SHOW = 20  # entries printed per list; the full lists are in the returned report


class Command(BaseCommand):
    help = "Import faces into a project: fer2013.csv, fer2013new.csv (FER+ votes), an image folder or a zip."

    def add_arguments(self, parser):
        parser.add_argument("path", help="csv file, image folder, zip file or single image")
        parser.add_argument("--project", required=True, help="the project's slug")
        parser.add_argument("--format", choices=FORMATS, default="auto", help="default: tell from the file")
        parser.add_argument("--labels-as-answers", action="store_true",
                            help="fer2013: import the labels as answers of the annotator `fer2013-original`")
        parser.add_argument("--votes-as-answers", action="store_true",
                            help="FER+: import the votes as answers of ten crowd annotators, not as reference votes")
        parser.add_argument("--cropped", action="store_true",
                            help="images are face crops already (e.g. 48x48 FER crops): use the whole image")
        parser.add_argument("--split", default="",
                            help="split of the faces whose file names none (fer2013's Usage column and train/ test/ folders win)")
        parser.add_argument("--gold-from-reference", action="store_true",
                            help="mark every new face with a reference label (csv label, class folder) as gold with that label")

    def handle(self, *args, path, project, format, labels_as_answers, votes_as_answers, cropped, split, gold_from_reference, **options):
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"No project with the slug {project!r}.")
        chosen = {"format": format, "labels_as_answers": labels_as_answers, "votes_as_answers": votes_as_answers,
                  "cropped": cropped, "split": split, "gold_from_reference": gold_from_reference}
        bar = None

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, unit="row" if total else "it", desc="import", file=self.stderr._out, dynamic_ncols=True)
            bar.update(done - bar.n)

        try:
            import_options_check(format=format, labels_as_answers=labels_as_answers, split=split,
                                 gold_from_reference=gold_from_reference)
            audit_record(project=target, actor=None, action="import.started", target=f"path:{path}"[:200],
                         details={"file": path, "size": _size(path), "options": chosen, "via": "manage.py import_faces"})
            report = items_import(project=target, path=path, progress=progress, **chosen)
        except ValidationFailed as exc:
            raise CommandError(exc.message) from exc
        finally:
            if bar is not None:
                bar.close()
        self.print_report(report)
        if not report.ok:
            raise CommandError(report.error or "Nothing could be imported.")
        return None

    def print_report(self, report: ImportReport) -> None:
        out = self.stdout
        out.write(self.style.MIGRATE_HEADING(f"Import of {report.source} ({report.format}) in {report.seconds:.1f} s"))
        out.write(f"  rows/files read   {report.seen}")
        out.write(f"  imported          {report.imported}")
        if report.updated:
            out.write(f"  items updated     {report.updated}")
        if report.answers:
            out.write(f"  answers created   {report.answers}")
        if report.gold:
            out.write(f"  marked gold       {report.gold} (gold label = reference label)")
        out.write(f"  duplicates        {report.counts['duplicates']} (skipped: already stored)")
        out.write(f"  near duplicates   {report.counts['near_duplicates']} (imported, listed for review)")
        out.write(f"  skipped           {report.counts['skipped']}")
        reasons: dict[str, int] = {}
        for entry in report.skipped:
            reasons[entry["code"]] = reasons.get(entry["code"], 0) + 1
        for code, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
            out.write(f"    {code:<22}{n}")
        for title, entries, text in (
            ("Skipped", report.skipped, lambda e: e["reason"]),
            ("Duplicates", report.duplicates, lambda e: e["reason"]),
            ("Near duplicates", report.near_duplicates,
             lambda e: f"{e['where']}: item {e['item']} looks like item {e['similar_item']} (distance {e['distance']})"),
        ):
            if entries:
                out.write(f"{title}:")
                for entry in entries[:SHOW]:
                    out.write(f"  {text(entry)}")
                if len(entries) > SHOW:
                    out.write(f"  ... and {report.counts[title.lower().replace(' ', '_')] - SHOW} more")
        for note in report.notes:
            out.write(self.style.WARNING(f"Note: {note}"))
        if report.error:
            out.write(self.style.ERROR(report.error))


def _size(path: str) -> int | None:
    """Bytes of a file, or of every file under a folder (what the audit log records as the import's size)."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(path) for name in names
                   if not os.path.islink(os.path.join(folder, name)))
    return None

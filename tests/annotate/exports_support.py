"""Builders for the export tests: a frozen version of real sample faces with their real FER+ votes (no tests here)."""
import csv
import hashlib
import random
import uuid

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from annotate.models import Annotation, DatasetVersion, DatasetVersionItem, Item, LabelSource, Membership, QualityRun, Role
from annotate.services.data_cards import data_card_render
from ml import faces
from ml.config import EXTRA_ANSWERS, FER2013_CLASSES, FERPLUS_CLASSES, VOTE_NAMES
from tests.annotate.imports_support import SAMPLE, sample_rows

VOTE_LABELS = dict(zip(VOTE_NAMES, FERPLUS_CLASSES + EXTRA_ANSWERS))


def sample_votes() -> list[dict]:
    """The sample's FER+ votes, row by row, keyed by FERLab label (NF is not_a_face), zeros left out."""
    with open(SAMPLE / "fer2013new_sample.csv") as fh:
        return [{VOTE_LABELS[k]: int(v) for k, v in row.items() if k in VOTE_LABELS and int(v)} for row in csv.DictReader(fh)]


def version_make(project, *, faces_wanted: int = 60, number: int = 1, crowd: int = 10) -> DatasetVersion:
    """A version of the first `faces_wanted` sample faces whose FER+ majority is an expression class.

    Each face is stored as its 48x48 PNG crop (content hash over the pixels, as the FER2013 importer hashes it), its
    FER+ votes are answers of `crowd` accounts (every vote one account's answer, some with a flag), and its final
    label is the votes' majority: so contempt faces, which FER2013 has no class for, are in it.
    """
    User = get_user_model()
    people = [User.objects.create(username=f"crowd-{uuid.uuid4().hex[:8]}") for _ in range(crowd)]
    Membership.objects.bulk_create([Membership(project=project, user=u, role=Role.ANNOTATOR) for u in people])
    rnd = random.Random(7)
    chosen = []
    for row_no, (row, votes) in enumerate(zip(sample_rows(), sample_votes())):
        top = max(votes, key=lambda label: (votes[label], -FERPLUS_CLASSES.index(label) if label in FERPLUS_CLASSES else -99))
        if top in FERPLUS_CLASSES:
            chosen.append((row_no, row, votes, top))
        if len(chosen) == faces_wanted:
            break
    entries, answers = [], []
    for row_no, row, votes, label in chosen:
        pixels = faces.parse_fer_pixels(row["pixels"])
        digest = faces.sha256(pixels)
        crop = default_storage.save(f"items/crop/test/{digest[:16]}.png", ContentFile(faces.png_bytes(pixels)))
        reference = FER2013_CLASSES[int(row["emotion"])]
        item = Item.objects.create(project=project, crop=crop, content_hash=digest, width=48, height=48,
                                   source=f"fer2013.csv:{row_no}", source_row=row_no, split=row["Usage"],
                                   reference_label=reference, answer_count=sum(votes.values()))
        given = [lab for lab, n in votes.items() for _ in range(n)]
        flags = {}
        for person, answer in zip(rnd.sample(people, len(given)), given):
            flagged = ["occluded"] if rnd.random() < 0.1 else []
            for f in flagged:
                flags[f] = flags.get(f, 0) + 1
            answers.append(Annotation(project=project, item=item, annotator=person, label=answer, flags=flagged,
                                      seconds=round(rnd.uniform(0.8, 4.0), 2), client_id=uuid.uuid4(), source="web"))
        total = sum(votes.values())
        classes = [c for c in project.labels if c not in EXTRA_ANSWERS]
        counted = sum(votes.get(c, 0) for c in classes)
        entries.append(dict(
            item=item, content_hash=digest, label=label, label_source=LabelSource.CONSENSUS,
            soft_label={c: round(votes.get(c, 0) / counted, 6) for c in classes}, votes=votes, num_answers=total,
            quality=round(votes[label] / total, 4), label_issue=label != reference, label_score=round(rnd.random(), 4),
            model_label=label, model_confidence=0.8, flags=flags, reference_label=reference, split=row["Usage"],
        ))
    Annotation.objects.bulk_create(answers)
    watermark = max(a.pk for a in Annotation.objects.filter(project=project).only("id"))
    run = QualityRun.objects.create(
        project=project, annotation_watermark=watermark, annotation_count=len(answers),
        summary={"krippendorff_alpha": 0.52, "fleiss_kappa": 0.49, "answers": len(answers), "items": len(entries),
                 "annotators": crowd, "consensus_method": "crowdlab",
                 "per_class": {c: {"kappa": 0.5, "alpha": 0.5, "answers": sum(e["votes"].get(c, 0) for e in entries)}
                               for c in project.labels}},
    )
    sha = hashlib.sha256("".join(e["content_hash"] + e["label"] for e in entries).encode()).hexdigest()
    version = DatasetVersion.objects.create(
        project=project, number=number, name=f"v{number}", quality_run=run, annotation_watermark=watermark,
        policy={"min_answers": 1, "exclude_labels": ["unknown", "not_a_face"], "split": "keep"},
        stats={"left_out": {"final label not_a_face": 3}}, item_count=len(entries), sha256=sha,
    )
    DatasetVersionItem.objects.bulk_create([DatasetVersionItem(version=version, **e) for e in entries])
    version.data_card = data_card_render(version=version)
    version.save(update_fields=["data_card"])
    return version

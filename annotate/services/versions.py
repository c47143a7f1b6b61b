"""Dataset versions: freeze what the crowd and the leads settled into an immutable, content-hashed snapshot.

A label policy decides each face's final label: a lead's review first, then the latest quality run's
consensus, then (if the policy allows) the imported reference. Faces the policy leaves out are counted by
reason. Splits keep the imported ones or are drawn seeded and class-stratified; either way near-duplicate
faces (the quality run's pairs) stay in one split. ``version_preview`` computes all of it without writing;
``version_freeze`` writes it once. A version is never changed afterwards: later answers and reviews only
reach the next one. A project that asks no expression class (#18) freezes faces with a valence-arousal or
AU consensus under the label "" (one stratum); the class options of the policy do not apply to it.
"""
from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

from django.db import transaction
from django.db.models import Max

from annotate.exceptions import ValidationFailed
from annotate.fastpaths.child_rows import child_rows_insert
from annotate.models import (
    Annotation, DatasetVersion, DatasetVersionItem, Item, LabelSource, Project, QualityItemResult, QualityRun, Review,
    ReviewAction,
)
from annotate.selectors.quality import quality_run_latest
from annotate.selectors.run_numbers import quality_run_number
from ml.config import EXTRA_ANSWERS, FER2013_CLASSES

SPLIT_MODES = ("keep", "stratified")
LABEL_SOURCES = ("curated", "reference")
ANNOTATOR_SOURCE = "annotator:"
NO_DIMENSION_CONSENSUS = "no valence-arousal or action-unit consensus"
# Stratified splits: the names FERLab gives them (keep mode uses the imported names, blank -> "train").
STRATIFIED_SPLITS = ("train", "validation", "test")
WRITE_BATCH = 2000
# A quality run's per-face valence-arousal and AU consensus, frozen into DatasetVersionItem.dimensions.
DIMENSION_FIELDS = ("valence", "arousal", "valence_spread", "arousal_spread", "action_units")


@dataclass(frozen=True)
class LabelPolicy:
    """How a version chooses each face's final label and split (stored with the version)."""

    min_consensus_quality: float = 0.0
    min_answers: int = 1
    exclude_unreviewed_issues: bool = False
    exclude_labels: tuple[str, ...] = EXTRA_ANSWERS
    exclude_lead_excluded: bool = True
    exclude_flags: tuple[str, ...] = ()
    use_reference: bool = False  # faces nobody answered take their imported reference label
    # "curated": a review, else the run's consensus (else the reference, with use_reference). Baselines a curated
    # version is compared with, ignoring consensus and relabels (faces a lead excluded stay out): "reference", every
    # face takes the label it was imported with; "annotator:<username>", every face that person answered takes their
    # answer (FER2013's originals imported as answers are the "fer2013" account's).
    labels_from: str = "curated"
    split: str = "keep"
    split_seed: int = 0
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)

    @classmethod
    def from_params(cls, params: dict | None, *, project: Project) -> "LabelPolicy":
        params = dict(params or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValidationFailed(f"Unknown policy option {', '.join(unknown)}.", code="invalid_policy", details={"unknown": unknown})
        for name in ("exclude_labels", "exclude_flags", "split_fractions"):
            if name in params:
                params[name] = tuple(params[name])
        policy = cls(**params)
        policy.check(project=project)
        return policy

    def check(self, *, project: Project) -> None:
        problems = {}
        if not 0 <= self.min_consensus_quality <= 1:
            problems["min_consensus_quality"] = "between 0 and 1"
        if self.min_answers < 0:
            problems["min_answers"] = "0 or more"
        if set(self.exclude_labels) - set(project.labels) and (project.labels or self.exclude_labels != EXTRA_ANSWERS):
            problems["exclude_labels"] = f"labels of the project: {', '.join(project.labels)}"
        if set(self.exclude_flags) - set(project.flags):
            problems["exclude_flags"] = f"flags of the project: {', '.join(project.flags) or 'none'}"
        if self.labels_from.startswith(ANNOTATOR_SOURCE):
            name = self.labels_from[len(ANNOTATOR_SOURCE):]
            if not Annotation.objects.filter(project=project, annotator__username=name).exists():
                problems["labels_from"] = f"no answers from {name!r} in this project"
        elif self.labels_from not in LABEL_SOURCES:
            problems["labels_from"] = " or ".join(LABEL_SOURCES) + ", or annotator:<username>"
        if not project.labels:  # no expression class: nothing for a class option to act on (the default is ignored)
            no_class = "not for a project without an expression class"
            problems.update({name: no_class for name, is_set in (
                ("min_consensus_quality", bool(self.min_consensus_quality)), ("use_reference", self.use_reference),
                ("labels_from", self.labels_from != "curated"), ("exclude_labels", "exclude_labels" in problems)) if is_set})
        if self.split not in SPLIT_MODES:
            problems["split"] = " or ".join(SPLIT_MODES)
        fractions = self.split_fractions
        if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
            problems["split_fractions"] = "three shares (train, validation, test) that add up to 1"
        if problems:
            raise ValidationFailed("The label policy is not valid.", code="invalid_policy", details=problems)

    def as_dict(self) -> dict:
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        if d["labels_from"] == "curated":  # the default is left out, so versions frozen before it keep their hash
            del d["labels_from"]
        return d


@dataclass
class Frozen:
    """What a freeze would write: the entries (one dict per face), the counts, and where it came from."""

    run: QualityRun | None
    annotation_watermark: int
    review_watermark: int
    policy: LabelPolicy
    entries: list[dict]
    left_out: Counter = field(default_factory=Counter)
    moved_groups: int = 0
    moved_faces: int = 0
    sha256: str = ""


def _expression_classes(project: Project) -> list[str]:
    return [label for label in project.labels if label not in EXTRA_ANSWERS]


def _latest_reviews(project: Project, watermark: int) -> dict[int, tuple[str, str]]:
    """item id -> (action, label) of the review in force among reviews with id <= watermark."""
    latest: dict[int, tuple[str, str]] = {}
    rows = Review.objects.filter(item__project=project, id__lte=watermark).order_by("created_at", "id").values_list("item_id", "action", "label")
    for item_id, action, label in rows:
        latest[item_id] = (action, label)
    return latest


def _flag_counts(project: Project, watermark: int) -> dict[int, Counter]:
    """item id -> answers carrying each flag, among the live answers up to the watermark."""
    replaced = set(Annotation.objects.filter(project=project, id__lte=watermark, replaces__isnull=False).values_list("replaces_id", flat=True))
    counts: dict[int, Counter] = defaultdict(Counter)
    for pk, item_id, flags in Annotation.objects.filter(project=project, id__lte=watermark).exclude(flags=[]).values_list("id", "item_id", "flags"):
        if pk not in replaced:
            counts[item_id].update(flags)
    return counts


def _reference(item: dict, labels: list[str]) -> tuple[str, dict]:
    """The imported reference as (label, votes): FER+ votes' majority if any, else the reference label."""
    votes = {k: int(v) for k, v in (item["reference_votes"] or {}).items() if v}
    if votes:
        top = max(votes.values())
        winners = [label for label in labels if votes.get(label) == top]
        return (winners[0] if len(winners) == 1 else ""), votes
    label = item["reference_label"]
    return (label if label in labels else ""), ({label: 1} if label in labels else {})


def _soft(votes: dict, classes: list[str], label: str) -> dict:
    counted = {c: votes.get(c, 0) for c in classes}
    total = sum(counted.values())
    if not total:
        return {c: 1.0 if c == label else 0.0 for c in classes}
    return {c: round(n / total, 6) for c, n in counted.items()}


def version_compute(*, project: Project, policy: LabelPolicy) -> Frozen:
    """Decide every face's final label, soft label and split under the policy (reads only)."""
    run = quality_run_latest(project_id=project.pk)
    if run is None and not policy.use_reference and policy.labels_from == "curated":
        raise ValidationFailed(
            "The project has no quality run yet: run one (Overview, Start quality run), or allow imported reference labels.",
            code="no_quality_run",
        )
    annotation_watermark = run.annotation_watermark if run else 0
    review_watermark = Review.objects.filter(item__project=project).aggregate(w=Max("id"))["w"] or 0
    labels, classes = list(project.labels), _expression_classes(project)
    results = {}
    if run is not None:
        results = {r["item_id"]: r for r in QualityItemResult.objects.filter(run=run).values(
            "item_id", "num_answers", "votes", "consensus_label", "consensus_quality", "label_quality", "label_issue",
            "model_label", "model_confidence", *DIMENSION_FIELDS)}
    reviews = _latest_reviews(project, review_watermark)
    flags = _flag_counts(project, annotation_watermark)
    chosen = _annotator_answers(project, policy, annotation_watermark if run else None)
    frozen = Frozen(run=run, annotation_watermark=annotation_watermark, review_watermark=review_watermark, policy=policy, entries=[])
    items = Item.objects.filter(project=project).order_by("id").values(
        "id", "content_hash", "split", "reference_label", "reference_votes", "excluded")
    for item in items:
        if chosen is not None:
            item["annotator_answer"] = chosen.get(item["id"], "")
        entry = _entry(item, results.get(item["id"]), reviews.get(item["id"]), flags.get(item["id"], Counter()),
                       policy=policy, labels=labels, classes=classes, left_out=frozen.left_out)
        if entry is not None:
            frozen.entries.append(entry)
    _assign_splits(frozen, pairs=(run.summary.get("near_duplicates", []) if run else []))
    frozen.sha256 = _manifest_sha256(frozen)
    return frozen


def _annotator_answers(project: Project, policy: LabelPolicy, watermark: int | None) -> dict[int, str] | None:
    """item id -> the live answer of the annotator the policy takes labels from (None for other policies)."""
    if not policy.labels_from.startswith(ANNOTATOR_SOURCE):
        return None
    answers = Annotation.objects.filter(project=project, annotator__username=policy.labels_from[len(ANNOTATOR_SOURCE):])
    if watermark is not None:
        answers = answers.filter(id__lte=watermark)
    rows = list(answers.values_list("id", "item_id", "label", "replaces_id"))
    replaced = {r[3] for r in rows if r[3] is not None}
    return {item_id: label for pk, item_id, label, _ in sorted(rows) if pk not in replaced}


def _entry(item: dict, result: dict | None, review: tuple[str, str] | None, flags: Counter, *, policy: LabelPolicy,
           labels: list[str], classes: list[str], left_out: Counter) -> dict | None:
    """One face's entry, or None (counted in left_out under its reason) when the policy leaves it out."""
    action, review_label = review or ("", "")
    if action == ReviewAction.EXCLUDE or (item["excluded"] and policy.exclude_lead_excluded):
        left_out["excluded by a lead"] += 1
        return None
    ref_label, ref_votes = _reference(item, labels)
    votes = dict(result["votes"]) if result else {}
    answers = result["num_answers"] if result else 0
    if policy.labels_from != "curated":
        label = item["annotator_answer"] if "annotator_answer" in item else item["reference_label"]
        if label not in labels:
            left_out["not answered by " + policy.labels_from[len(ANNOTATOR_SOURCE):] if "annotator_answer" in item
                     else "no imported label"] += 1
            return None
        source = LabelSource.ANNOTATOR if "annotator_answer" in item else LabelSource.REFERENCE
        soft = _soft({}, classes, label)
    elif not labels:  # no expression class (#18): a review sets no label; the face is in by its VA/AU consensus
        if not _has_dimension_consensus(result):
            left_out[NO_DIMENSION_CONSENSUS] += 1
            return None
        if answers < policy.min_answers:
            left_out[f"fewer than {policy.min_answers} answers"] += 1
            return None
        label, source, soft, votes = "", LabelSource.CONSENSUS, {}, {}
    elif action in (ReviewAction.ACCEPT, ReviewAction.RELABEL) and review_label:
        label, source = review_label, LabelSource.REVIEW
        soft = _soft(votes, classes, label) if action == ReviewAction.ACCEPT else _soft({}, classes, label)
    elif result and result["consensus_label"] and answers:
        if answers < policy.min_answers:
            left_out[f"fewer than {policy.min_answers} answers"] += 1
            return None
        quality = result["consensus_quality"]
        if policy.min_consensus_quality and (quality is None or quality < policy.min_consensus_quality):
            left_out[f"consensus quality below {policy.min_consensus_quality}"] += 1
            return None
        if policy.exclude_unreviewed_issues and result["label_issue"]:
            left_out["unreviewed label issue"] += 1
            return None
        label, source, soft = result["consensus_label"], LabelSource.CONSENSUS, _soft(votes, classes, result["consensus_label"])
    elif policy.use_reference and ref_label:
        label, source, votes = ref_label, LabelSource.REFERENCE, ref_votes
        soft = _soft(votes, classes, label)
    else:
        left_out["no answers" if not answers else "no consensus"] += 1
        return None
    if label in policy.exclude_labels:
        left_out[f"final label {label}"] += 1
        return None
    flagged = [f for f in policy.exclude_flags if flags.get(f, 0) * 2 >= max(answers, 1) and flags.get(f, 0)]
    if flagged:
        left_out[f"flagged {flagged[0]}"] += 1
        return None
    return {
        "item_id": item["id"], "content_hash": item["content_hash"], "label": label, "label_source": source,
        "soft_label": soft, "votes": votes, "num_answers": answers,
        "quality": result["consensus_quality"] if result else None,
        "label_issue": bool(result["label_issue"]) if result else False,
        "label_score": result["label_quality"] if result else None,
        "model_label": result["model_label"] if result else "",
        "model_confidence": result["model_confidence"] if result else None,
        "dimensions": _dimensions(result),
        "flags": dict(flags), "reference_label": ref_label, "split": item["split"] or "train",
        "duplicate_group": None,
    }


def _dimensions(result: dict | None) -> dict:
    """The face's valence-arousal and AU consensus as frozen into its entry ({} where the run has none)."""
    return {k: result[k] for k in DIMENSION_FIELDS if result[k] is not None} if result else {}


def _has_dimension_consensus(result: dict | None) -> bool:
    """Whether the run settled any valence, arousal or AU of the face: what puts a face in a version without classes."""
    dims = _dimensions(result)
    return (dims.get("valence") is not None or dims.get("arousal") is not None
            or any(p is not None for p in (dims.get("action_units") or {}).values()))


def _groups(entries: list[dict], pairs: list[list[int]]) -> dict[int, int]:
    """item id -> group id (the smallest item id in its group) over near-duplicate pairs among the entries."""
    parent = {e["item_id"]: e["item_id"] for e in entries}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        if a in parent and b in parent:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in parent}


def _assign_splits(frozen: Frozen, *, pairs: list[list[int]]) -> None:
    """Set each entry's split; near-duplicate groups never straddle two splits."""
    policy, entries = frozen.policy, frozen.entries
    group_of = _groups(entries, pairs)
    members: dict[int, list[dict]] = defaultdict(list)
    for e in entries:
        members[group_of[e["item_id"]]].append(e)
    for gid, group in members.items():
        if len(group) > 1:
            for e in group:
                e["duplicate_group"] = gid
    if policy.split == "keep":
        for group in members.values():
            splits = Counter(e["split"] for e in group)
            if len(splits) > 1:
                keep = max(sorted(splits), key=lambda s: splits[s])  # the most common; ties by name
                frozen.moved_groups += 1
                frozen.moved_faces += sum(1 for e in group if e["split"] != keep)
                for e in group:
                    e["split"] = keep
        return
    # Stratified: whole groups are dealt to splits, per class of the group's first face, in seeded order.
    rng = random.Random(policy.split_seed)
    by_class: dict[str, list[list[dict]]] = defaultdict(list)
    for gid in sorted(members):
        by_class[members[gid][0]["label"]].append(members[gid])
    for label in sorted(by_class):
        groups = by_class[label]
        rng.shuffle(groups)
        total = sum(len(g) for g in groups)
        targets = [policy.split_fractions[0] * total, (policy.split_fractions[0] + policy.split_fractions[1]) * total]
        done = 0
        for group in groups:
            split = STRATIFIED_SPLITS[0] if done < targets[0] else STRATIFIED_SPLITS[1] if done < targets[1] else STRATIFIED_SPLITS[2]
            for e in group:
                e["split"] = split
            done += len(group)


def _manifest_sha256(frozen: Frozen) -> str:
    """sha256 over the policy and, face by face in content-hash order, content hash, label, soft label, split and
    (where the face has them) its valence-arousal and AU consensus."""
    digest = hashlib.sha256(json.dumps(frozen.policy.as_dict(), sort_keys=True).encode())
    for e in sorted(frozen.entries, key=lambda e: e["content_hash"]):
        soft = json.dumps({k: round(v, 6) for k, v in e["soft_label"].items()}, sort_keys=True)
        # Valence-arousal and AUs count only where a face has them, so versions without them keep their old hash.
        dims = "\t" + json.dumps(e["dimensions"], sort_keys=True) if e.get("dimensions") else ""
        digest.update(f"{e['content_hash']}\t{e['label']}\t{soft}\t{e['split']}{dims}\n".encode())
    return digest.hexdigest()


def _counts(entries: list[dict]) -> dict:
    per = defaultdict(Counter)
    for e in entries:
        per[e["split"]][e["label"]] += 1
    return {split: dict(sorted(c.items())) for split, c in sorted(per.items())}


def _reference_differs(entries: list[dict]) -> dict:
    """How many final labels differ from the imported reference, among faces that have one."""
    compared = [e for e in entries if e["reference_label"]]
    differ = sum(1 for e in compared if e["reference_label"] != e["label"])
    return {"compared": len(compared), "differ": differ}


def _previous_differs(project: Project, entries: list[dict]) -> dict | None:
    previous = DatasetVersion.objects.filter(project=project).order_by("-number").first()
    if previous is None:
        return None
    before = dict(previous.entries.values_list("item_id", "label"))
    now = {e["item_id"]: e["label"] for e in entries}
    return {
        "version": previous.pk, "number": previous.number,
        "label_changed": sum(1 for i, label in now.items() if i in before and before[i] != label),
        "added": len(now.keys() - before.keys()), "removed": len(before.keys() - now.keys()),
    }


def _summary(frozen: Frozen, project: Project) -> dict:
    entries = frozen.entries
    return {
        "faces": len(entries), "per_split": _counts(entries),
        "per_class": dict(sorted(Counter(e["label"] for e in entries).items())),
        "label_sources": dict(Counter(e["label_source"] for e in entries)),
        "left_out": dict(frozen.left_out), "left_out_total": sum(frozen.left_out.values()),
        "near_duplicate_groups_moved": frozen.moved_groups, "near_duplicate_faces_moved": frozen.moved_faces,
        "differs_from_reference": _reference_differs(entries), "differs_from_previous": _previous_differs(project, entries),
        "without_fer2013_class": sum(1 for e in entries if e["label"] not in FER2013_CLASSES), "sha256": frozen.sha256,
        "quality_run": frozen.run.pk if frozen.run else None,
        "quality_run_number": quality_run_number(run=frozen.run),
    }


def version_preview(*, project: Project, policy: dict | None = None) -> dict:
    """What freezing now would give, without writing anything."""
    policy_obj = LabelPolicy.from_params(policy, project=project)
    frozen = version_compute(project=project, policy=policy_obj)
    same = DatasetVersion.objects.filter(project=project, sha256=frozen.sha256).values_list("number", flat=True).first()
    return {"policy": policy_obj.as_dict(), "same_as_version": same, **_summary(frozen, project)}


def version_freeze(*, project: Project, policy: dict | None = None, name: str = "", created_by=None) -> tuple[DatasetVersion, bool]:
    """Freeze a new version (or return the project's version with the same hash); returns (version, created)."""
    policy_obj = LabelPolicy.from_params(policy, project=project)
    frozen = version_compute(project=project, policy=policy_obj)
    if not frozen.entries:
        reasons = ", ".join(f"{n} {why}" for why, n in frozen.left_out.most_common()) or "the project has no faces"
        raise ValidationFailed(f"The policy leaves no face in the version ({reasons}).", code="empty_version",
                               details=dict(frozen.left_out))
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()  # one freeze per project at a time
        same = DatasetVersion.objects.filter(project=project, sha256=frozen.sha256).first()
        if same is not None:
            return same, False
        number = (DatasetVersion.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
        version = DatasetVersion.objects.create(
            project=project, number=number, name=name[:200] or f"v{number}", quality_run=frozen.run,
            annotation_watermark=frozen.annotation_watermark, review_watermark=frozen.review_watermark,
            policy=policy_obj.as_dict(), stats=_summary(frozen, project), item_count=len(frozen.entries),
            sha256=frozen.sha256, created_by=created_by,
        )
        _entries_insert(version=version, entries=frozen.entries)
        version.data_card = _data_card(version)
        DatasetVersion.objects.filter(pk=version.pk).update(data_card=version.data_card)
    return version, True


def _entries_insert(*, version: DatasetVersion, entries: list[dict]) -> None:
    """A version's entries: COPY on PostgreSQL (36,000 rows in a fraction of bulk_create's time), bulk_create elsewhere."""
    child_rows_insert(model=DatasetVersionItem, parent="version", parent_id=version.pk, rows=entries, batch_size=WRITE_BATCH)


def _data_card(version: DatasetVersion) -> str:
    from annotate.services.data_cards import data_card_render

    return data_card_render(version=version)

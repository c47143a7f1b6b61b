"""The data card of a dataset version: a Hugging Face dataset card whose body answers "Datasheets for Datasets".

Everything in it is read from the version itself (its faces, policy, quality run and the answers up to its
watermark), so one version always renders the same card. Where a figure rests on few answers the card says so.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.db.models import Count

from annotate.models import Annotation, DatasetVersion, DatasetVersionItem, LabelSource
from annotate.selectors.run_numbers import quality_run_number
from annotate.services.data_card_dimensions import dimensions_card
from annotate.services.imports_fer import FER2013_ANNOTATOR, FERPLUS_ANNOTATORS
from ml.config import FER2013_CLASSES

# Agreement over fewer faces with two or more answers than this, or a class with fewer answers, is called thin.
THIN_FACES = 100
THIN_CLASS_ANSWERS = 30
# The policy options that act on a face's class: a version without an expression class (#18) has no use for them.
CLASS_POLICY_OPTIONS = ("min_consensus_quality", "exclude_labels", "use_reference", "labels_from")
# Fewer faces than this behind a share (reference labels compared, flags): the card gives the count, not a rate.
THIN_SHARE = 30

FER2013_TEXT = (
    'FER2013: Goodfellow et al., "Challenges in Representation Learning: A report on three machine learning contests" '
    "(ICML 2013 workshop), released for research. Its faces were collected from the web by image search; the rights "
    "in each picture stay with its owner, and the people shown did not consent to this use."
)
FERPLUS_TEXT = (
    'FER+ labels: Barsoum et al., "Training Deep Networks for Facial Expression Recognition with Crowd-Sourced Label '
    'Distribution" (ICMI 2016), microsoft/FERPlus, MIT licence (the vote counts; the images remain FER2013\'s).'
)
UNFIT_USES = (
    "Inferring what a person feels. A facial expression is not an emotion: the same face is made for many reasons, "
    "and these labels describe how annotators read a 48x48 picture, not the inner state of the person in it.",
    "Decisions about people: hiring, admission, grading, credit, insurance, policing, border control, lie detection "
    "or measuring attention. In the European Union, emotion recognition at work and in education is prohibited.",
    "Clinical use: diagnosing depression, autism, pain or any other condition.",
    "Identifying or tracking people: the faces are of real people who did not agree to be recognised.",
    "Claims about demographic groups: the faces carry no age, sex or ethnicity labels, web-collected sources such as "
    "FER2013 are skewed towards whom image search returns, and error rates per group have not been measured.",
)
POLICY_TEXT = {
    "min_consensus_quality": "Minimum consensus quality",
    "min_answers": "Minimum answers per face",
    "exclude_unreviewed_issues": "Leave out label issues no lead reviewed",
    "exclude_labels": "Leave out faces whose final label is",
    "exclude_lead_excluded": "Leave out faces a lead excluded",
    "exclude_flags": "Leave out faces flagged by at least half their annotators as",
    "use_reference": "Faces nobody answered take their imported reference label",
    "split": "Splits (keep: the imported ones; stratified: seeded, per class)",
    "split_seed": "Seed of the stratified split",
    "split_fractions": "Shares of train / validation / test (stratified)",
}


@dataclass
class _Facts:
    """What the card says, gathered in one pass over the version."""

    version: DatasetVersion
    labels: list[str]
    per_split: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    label_sources: Counter = field(default_factory=Counter)
    answers_hist: Counter = field(default_factory=Counter)
    flagged_any: Counter = field(default_factory=Counter)
    flagged_half: Counter = field(default_factory=Counter)
    reference_compared: int = 0
    reference_differ: int = 0
    reference_changes: Counter = field(default_factory=Counter)
    sources: dict[str, dict] = field(default_factory=dict)
    with_reference_votes: int = 0
    people: int = 0
    import_accounts: set = field(default_factory=set)
    answers: int = 0
    duplicate_groups: int = 0

    @property
    def faces(self) -> int:
        return sum(sum(c.values()) for c in self.per_split.values())

    @property
    def per_class(self) -> Counter:
        total = Counter()
        for counts in self.per_split.values():
            total.update(counts)
        return total


def _facts(version: DatasetVersion) -> _Facts:
    project = version.project
    facts = _Facts(version=version, labels=list(project.labels))
    groups = set()
    rows = DatasetVersionItem.objects.filter(version=version).values_list(
        "split", "label", "label_source", "num_answers", "flags", "reference_label", "duplicate_group", "item__source",
        "item__source_row", "item__reference_votes")
    for split, label, source, answers, flags, reference, group, item_source, source_row, reference_votes in rows.iterator(chunk_size=5000):
        facts.per_split[split or "(none)"][label] += 1
        facts.label_sources[source] += 1
        facts.answers_hist[min(answers, 3)] += 1
        for flag, n in (flags or {}).items():
            if n:
                facts.flagged_any[flag] += 1
                if 2 * n >= max(answers, 1):
                    facts.flagged_half[flag] += 1
        if reference:
            facts.reference_compared += 1
            if reference != label:
                facts.reference_differ += 1
                facts.reference_changes[(reference, label)] += 1
        if group is not None:
            groups.add(group)
        name = (item_source or "").split(":", 1)[0] or "(unnamed)"
        entry = facts.sources.setdefault(name, {"faces": 0, "csv": source_row is not None})
        entry["faces"] += 1
        facts.with_reference_votes += reference_votes is not None
    facts.duplicate_groups = len(groups)
    answered = (Annotation.objects.filter(project=project, id__lte=version.annotation_watermark, item__dataset_entries__version=version)
                .values("annotator_id", "source").annotate(n=Count("id")))
    people = set()
    for row in answered:
        facts.answers += row["n"]
        (facts.import_accounts if row["source"] == "import" else people).add(row["annotator_id"])
    facts.people = len(people - facts.import_accounts)
    if facts.import_accounts:
        from django.contrib.auth import get_user_model

        facts.import_accounts = set(get_user_model().objects.filter(pk__in=facts.import_accounts).values_list("username", flat=True))
    return facts


# --- rendering --------------------------------------------------------------------------------------------

def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "n/a"


def _num(x) -> str:
    return "not computable" if x is None else f"{x:.3f}"


def _policy_value(value) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M"


def _is_fer2013(name: str, facts: _Facts) -> bool:
    return facts.sources[name]["csv"] and "fer" in name.lower()


def _ferplus_used(facts: _Facts) -> bool:
    return facts.with_reference_votes > 0 or bool(facts.import_accounts & set(FERPLUS_ANNOTATORS))


def _front_matter(facts: _Facts) -> str:
    version = facts.version
    creators = []
    if facts.people or _ferplus_used(facts):
        creators.append("crowdsourced")
    if facts.label_sources.get(LabelSource.REVIEW):
        creators.append("expert-generated")
    if facts.label_sources.get(LabelSource.REFERENCE) or FER2013_ANNOTATOR in facts.import_accounts:
        creators.append("found")
    sources = ["extended|fer2013" if _is_fer2013(name, facts) else "original" for name in sorted(facts.sources)]
    if _ferplus_used(facts):
        sources.append("extended|ferplus")
    q = json.dumps
    lines = [
        "license: other",
        "license_name: per-source",
        f"license_details: {q('Each source keeps its own terms; see Distribution in this card.')}",
        f"pretty_name: {q(f'{version.project.name} v{version.number}')}",
        "annotations_creators:", *[f"- {c}" for c in creators or ["no-annotation"]],
        "task_categories:", "- image-classification",
        "task_ids:", "- multi-class-image-classification",
        "size_categories:", f"- {_size_category(facts.faces)}",
        "source_datasets:", *[f"- {s}" for s in dict.fromkeys(sources)],
        "tags:", "- facial-expression-recognition", "- soft-labels", "- label-quality",
    ]
    return "---\n" + "\n".join(lines) + "\n---\n"


def _composition(facts: _Facts) -> list[str]:
    splits = sorted(facts.per_split)
    if not facts.labels:  # a project that asks no expression class (#18): faces per split, no class table
        return ["## Composition", "",
                f"{facts.faces:,} faces, each a 48x48 grey crop. The dataset has no expression class: the project asks only "
                "for valence-arousal or action units, so every face's `label` is empty, with no soft label or votes; a face "
                "is in the version when the quality run reached a consensus on those dimensions (below).", "",
                "| split | faces |", "| --- | ---: |", *[f"| {s} | {sum(facts.per_split[s].values()):,} |" for s in splits]]
    classes = [c for c in facts.labels if facts.per_class.get(c)] + sorted(set(facts.per_class) - set(facts.labels))
    out = ["## Composition", "",
           f"{facts.faces:,} faces, each a 48x48 grey crop, with one final label, a soft label (the share of answers per "
           "expression class), the answer counts, the consensus quality, the label-issue flag and score, the model's "
           "suggestion and confidence, the flags annotators set, the imported reference label if any, the split and the "
           "near-duplicate group.", "",
           "| class | " + " | ".join(splits) + " | total |", "| --- |" + " ---: |" * (len(splits) + 1)]
    for c in classes:
        out.append(f"| {c} | " + " | ".join(f"{facts.per_split[s].get(c, 0):,}" for s in splits) + f" | {facts.per_class[c]:,} |")
    out.append("| **all** | " + " | ".join(f"{sum(facts.per_split[s].values()):,}" for s in splits) + f" | {facts.faces:,} |")
    without = {c: n for c, n in facts.per_class.items() if c not in FER2013_CLASSES}
    out += ["", f"Faces whose final label has no FER2013 class ({', '.join(sorted(without)) or 'none'}): "
            f"{sum(without.values()):,}; the `fer2013-csv` export leaves them out."]
    sources = ", ".join(f"{n:,} from {s}" for s, n in facts.label_sources.most_common())
    out += ["", f"Where the final labels come from: {sources} (a lead's review wins over the consensus, which wins over an "
            "imported reference)."]
    if facts.duplicate_groups:
        out.append(f"Near-duplicate faces: {facts.duplicate_groups:,} groups, each kept within one split.")
    moved = facts.version.stats.get("near_duplicate_groups_moved")
    if moved:
        out.append(f"Freezing moved {moved:,} near-duplicate groups so that none straddles two splits.")
    return out


def _collection(facts: _Facts) -> list[str]:
    out = ["## Collection process", "", "Sources of the faces:", ""]
    for name in sorted(facts.sources):
        info = facts.sources[name]
        if _is_fer2013(name, facts):
            terms = FER2013_TEXT
        elif info["csv"]:
            terms = "A CSV in FER2013's layout whose licence FERLab does not know: the lead who imported it must state it."
        else:
            terms = "Image files uploaded by the project's leads; FERLab does not record their licence: state it before sharing."
        out.append(f"- `{name}` ({info['faces']:,} faces): {terms}")
    if _ferplus_used(facts):
        out.append(f"- FER+ votes ({facts.with_reference_votes:,} faces carry imported votes): {FERPLUS_TEXT}")
    imported = len(facts.import_accounts)
    out += ["", f"Answers: {facts.answers:,} from {facts.people:,} annotators" + (
        f", plus {imported} import accounts that stand for labels imported with the faces" if imported else "")
        + ". Annotators are never named in a version or its exports."]
    hist = facts.answers_hist
    out.append(f"Answers per face: none {hist[0]:,}, one {hist[1]:,}, two {hist[2]:,}, three or more {hist[3]:,}.")
    return out


def _agreement(facts: _Facts) -> list[str]:
    run = facts.version.quality_run
    if run is None:
        return ["### Agreement", "", "No quality run was used: the labels come from reviews and imported references, and "
                "there are no agreement figures."]
    if not facts.labels:
        return ["### Agreement", "", "The project asks no expression class: there is no agreement on a class to report "
                "(the agreement on valence-arousal and action units is below)."]
    s = run.summary or {}
    multi = facts.answers_hist[2] + facts.answers_hist[3]
    counted = (f" ({s['answers']:,} answers on {s.get('items', 0):,} faces by {s.get('annotators', 0):,} annotator accounts)"
               if s.get("answers") else "")
    out = ["### Agreement", "",
           f"From quality run #{quality_run_number(run=run)}{counted}: Krippendorff's alpha {_num(s.get('krippendorff_alpha'))}, "
           f"Fleiss' kappa {_num(s.get('fleiss_kappa'))}."]
    if multi < THIN_FACES:
        out.append(f"**Thin evidence:** only {multi:,} faces of this version have two or more answers; these figures can "
                   "move a lot with more answers.")
    per_class = s.get("per_class") or {}
    if per_class:
        out += ["", "| class | Fleiss' kappa | Krippendorff's alpha | answers | |", "| --- | ---: | ---: | ---: | --- |"]
    for label, row in per_class.items():
        answers = row.get("answers", 0)
        note = "thin evidence" if answers < THIN_CLASS_ANSWERS else ""
        out.append(f"| {label} | {_num(row.get('kappa'))} | {_num(row.get('alpha'))} | {answers:,} | {note} |")
    return out


def _probability_text(run) -> str:
    """Where the run's model probabilities came from: out of sample, or (said plainly) in sample."""
    source = (run.summary or {}).get("probability_source")
    if isinstance(source, dict) and "source" in source:
        return (f" (probabilities {source['source']}: {source.get('held_out_items', 0):,} faces scored by a model that never "
                f"saw them, {source.get('crossval_items', 0):,} by cross-validation, {source.get('in_sample_items', 0):,} "
                "in sample)")
    return f" (probabilities: {run.probability_source})" if run.probability_source else ""


def _labelling(facts: _Facts) -> list[str]:
    version, run = facts.version, facts.version.quality_run
    out = ["## Preprocessing, cleaning and labelling", "",
           "Each face is a 48x48 grey crop (detected and cropped with a margin for photos; FER2013 rows as they are).", "",
           "Label policy of this version:", ""]
    class_options = () if facts.labels else CLASS_POLICY_OPTIONS  # no expression class (#18): nothing for them to act on
    for key, value in version.policy.items():
        if key not in class_options:
            out.append(f"- {POLICY_TEXT.get(key, key)}: {_policy_value(value)}")
    if class_options:
        out.append("- The options on classes (consensus quality, labels left out, reference labels) do not apply: "
                   "the project asks no expression class.")
    left = version.stats.get("left_out") or {}
    if left:
        out += ["", "Left out by the policy: " + "; ".join(f"{n:,} {why}" for why, n in sorted(left.items(), key=lambda x: -x[1])) + "."]
    if run is not None:
        model = f"model version `{run.model_version.name}`" if run.model_version else "no model version"
        model += _probability_text(run)
        method = (run.summary or {}).get("consensus_method")
        reviews = f"reviews up to id {version.review_watermark}" if version.review_watermark else "no reviews"
        out += ["", f"Quality run #{quality_run_number(run=run)} of {run.created_at:%Y-%m-%d} (answers up to id {version.annotation_watermark}): "
                + (f"consensus by {method}, " if method else "") + f"{model}; {reviews}."]
    out += [""] + _agreement(facts) + ["", "### Against the imported labels", ""]
    if not facts.reference_compared:
        out.append("No face of this version has an imported reference label.")
    elif facts.reference_compared < THIN_SHARE:
        out.append(f"Only {facts.reference_compared} faces have an imported reference label ({facts.reference_differ} differ): "
                   "too few for a rate.")
    else:
        top = ", ".join(f"{a} -> {b} {n:,}" for (a, b), n in facts.reference_changes.most_common(5))
        out.append(f"{_pct(facts.reference_differ, facts.reference_compared)} of the final labels differ from the imported "
                   f"reference ({facts.reference_differ:,} of {facts.reference_compared:,}); most often {top or 'none'}.")
    out += ["", "### Flags", ""]
    flags = list(version.project.flags)
    if facts.faces < THIN_SHARE:
        out.append(f"Only {facts.faces} faces: flag shares are not given as rates.")
    for flag in flags:
        out.append(f"- {flag.replace('_', ' ')}: {facts.flagged_any[flag]:,} faces flagged by at least one annotator "
                   f"({_pct(facts.flagged_any[flag], facts.faces)}), {facts.flagged_half[flag]:,} by at least half of them "
                   f"({_pct(facts.flagged_half[flag], facts.faces)})")
    return out


def _uses() -> list[str]:
    return ["## Uses", "",
            "Training and evaluating facial-expression classifiers on 48x48 grey faces, studying label noise and annotator "
            "agreement, and comparing hard-label with soft-label training.", "",
            "Uses this data is unfit for:", ""] + [f"- {use}" for use in UNFIT_USES]


def _distribution(facts: _Facts) -> list[str]:
    version = facts.version
    by_class = ["- `fer2013-csv`: `fer2013.csv` (`emotion,pixels,Usage`, FER2013's seven classes in its order);",
                "- `ferplus-csv`: `fer2013new.csv` (FER+ vote counts) and the row-aligned `fer2013.csv` holding the pixels;",
                "- `imagefolder`: `<split>/<class>/<id>.png`, with `labels.csv` (soft labels and quality columns);"]
    if not facts.labels:
        by_class = ["- `fer2013-csv`, `ferplus-csv` and `imagefolder` are laid out by expression class: not offered for this "
                    "dataset, which has none;"]
    return ["## Distribution", "",
            f"Version {version.number} of project `{version.project.slug}`, content hash `{version.sha256}` (over every face's "
            "content hash, final label, soft label and split, plus the policy). Exports, each a zip with this card:", "",
            *by_class,
            "- `parquet`: `data/<split>-*.parquet` and `README.md`, for `datasets.load_dataset`;",
            "- `jsonl`: `data.jsonl`, one face per line, images under `images/`;",
            "- `label-studio`: `tasks.json` (one task per face, every answer an annotation) and `label_config.xml`.", "",
            "Terms: each source's terms above apply to its faces; FERLab adds none."]


def data_card_render(*, version: DatasetVersion) -> str:
    """The version's card in Markdown with the Hugging Face YAML header (what DatasetVersion.data_card stores)."""
    facts = _facts(version)
    project = version.project
    title = version.name or f"v{version.number}"
    body = [f"# {project.name}: dataset version {version.number} ({title})", "",
            f"{facts.faces:,} facial-expression crops curated in FERLab, frozen on {version.created_at:%Y-%m-%d}. This card "
            "follows the questions of \"Datasheets for Datasets\" (Gebru et al.).", "",
            "## Motivation", "",
            (project.description.strip() or "A facial-expression dataset whose labels were settled by a crowd and reviewed by "
             "ML leads, with the evidence behind every label kept beside it."), ""]
    dimensions = dimensions_card(version=version, thin_faces=THIN_FACES)  # [] unless the project asks for VA or AUs
    for section in (_composition(facts), _collection(facts), _labelling(facts), dimensions, _uses(), _distribution(facts)):
        if section:
            body += section + [""]
    body += ["## Maintenance", "",
             "A version never changes: later answers and reviews go into the next version, and the hash above identifies "
             "this one. Report problems to the project's leads."]
    return _front_matter(facts) + "\n" + "\n".join(body) + "\n"


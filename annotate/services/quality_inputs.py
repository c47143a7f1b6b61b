"""A quality run's inputs as arrays: live answers, items, and out-of-sample model probabilities.

Which probabilities (recorded on QualityRun.probability_source):
- ``held-out-model`` (several sources in one run are joined, e.g. ``held-out+cv-5fold``): the model version never trained on the item. A version's ``config.trained_on_splits``
  names the splits it trained on (the shipped model: FER2013 ``Training`` only) and a version trained by the
  platform names its dataset version; every other item is out-of-sample for it.
- ``crossval-<k>fold``: items the model did train on get K-fold probabilities (ml.crossval) from models
  trained on the project's own labels (vote distributions, or the imported reference label), within a
  time budget; the budget shortens training rather than being exceeded.
- ``in-sample-model``: fallback when too few such items carry labels to cross-validate (or crossval is
  turned off); the run records it so that its scores are read with care.
Each item's own source (``held-out``, ``crossval`` or ``in-sample``) is written on its QualityItemResult.
"""
import hashlib
from dataclasses import dataclass, field

import numpy as np

from annotate.models import DatasetVersionItem, Item, Membership, ModelVersion, Project

CROSSVAL_MIN_ITEMS = 400
CROSSVAL_FOLDS = 5
CROSSVAL_BUDGET_S = 600.0
# Where one face's probabilities came from (QualityItemResult.probability_source).
PROBABILITY_SOURCES = ("held-out", "crossval", "in-sample")


@dataclass
class QualityInputs:
    """N items, A live answers, M annotators, C project labels, K model classes, U action units."""

    item_ids: np.ndarray  # int (N,)
    split: np.ndarray  # int (N,) index into split_names
    split_names: list[str]
    perceptual_hash: np.ndarray  # int64 (N,), 0 where missing
    has_hash: np.ndarray  # bool (N,)
    reference: np.ndarray  # int (N,) label index or -1
    gold: np.ndarray  # int (N,) label index or -1
    answer_ids: np.ndarray  # int (A,)
    item_index: np.ndarray  # int (A,)
    annotator_index: np.ndarray  # int (A,)
    answer: np.ndarray  # int (A,) label index
    annotator_ids: np.ndarray  # int (M,)
    in_consensus: np.ndarray  # bool (M,)
    labels: list[str]  # C
    category_class: np.ndarray  # int (C,) model class per label or -1
    classes: list[str]  # K, the model's classes that are project labels, in model order
    watermark: int
    # #18, None where the project does not ask: each live answer's own valence / arousal (NaN = not given), and
    # its AUs as ml.action_units reads them (present 1 / 0 / -1 = not judged; intensity 1..5 / 0 / -1).
    valence: np.ndarray | None = None  # float (A,)
    arousal: np.ndarray | None = None  # float (A,)
    au_numbers: list[int] = field(default_factory=list)  # U, ascending
    au_present: np.ndarray | None = None  # int8 (A, U)
    au_intensity: np.ndarray | None = None  # int8 (A, U)


def _sha256_ids(ids: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(np.sort(np.asarray(ids, dtype=np.int64))).tobytes()).hexdigest()


def _columns():
    """The readers of a run's rows: PostgreSQL's binary COPY or the ORM (annotate.fastpaths.quality_columns)."""
    from annotate import fastpaths
    from annotate.fastpaths import quality_columns as q

    if fastpaths.enabled():
        return q.item_columns_postgres, q.answer_columns_postgres, q.prediction_columns_postgres
    return q.item_columns_orm, q.answer_columns_orm, q.prediction_columns_orm


def quality_inputs_load(*, project: Project, model_version: ModelVersion | None, watermark: int) -> QualityInputs:
    """Live answers with id <= watermark (corrections among those applied) on the project's included items.

    Rows come in as numpy columns (no Python object per row); an answer is live when no answer up to the
    watermark replaces it, and counts when its face is included and its label is one of the project's (any answer,
    on a project that asks no expression class)."""
    labels = list(project.labels)
    label_index = {label: i for i, label in enumerate(labels)}
    classes = [c for c in model_version.classes if c in label_index] if labels else []  # no class, no model
    if labels and len(classes) < 2:
        raise ValueError(f"The model version's classes {model_version.classes} share fewer than two labels with the project.")
    category_class = np.array([classes.index(label) if label in classes else -1 for label in labels], dtype=np.int64)
    item_columns, answer_columns, _ = _columns()
    included = Item.objects.filter(project=project, excluded=False)
    split_names = list(included.order_by("split").values_list("split", flat=True).distinct())
    items = item_columns(project_id=project.pk, labels=labels, splits=split_names)
    au_numbers = sorted(int(n) for n in (project.action_units or []))
    rows = answer_columns(project_id=project.pk, watermark=watermark, labels=labels,
                          valence_arousal=bool(project.valence_arousal), au_numbers=au_numbers)

    item_ids = items["id"]
    position = np.searchsorted(item_ids, rows["item"])
    on_item = position < len(item_ids)
    on_item[on_item] = item_ids[position[on_item]] == rows["item"][on_item]
    replaced = rows["replaces"][rows["replaces"] > 0]
    # Without an expression class (labels []) every answer counts, with answer -1 (no class) for the dimensions.
    live = on_item & ((rows["label"] >= 0) | (not labels)) & ~np.isin(rows["id"], replaced)
    annotator_ids, annotator_index = np.unique(rows["annotator"][live], return_inverse=True)
    excluded = Membership.objects.filter(project=project, excluded_from_consensus=True).values_list("user_id", flat=True)
    inputs = QualityInputs(
        item_ids=item_ids, split=items["split"], split_names=split_names, perceptual_hash=items["perceptual_hash"],
        has_hash=items["has_hash"].astype(bool), reference=items["reference"], gold=items["gold"],
        answer_ids=rows["id"][live], item_index=position[live].astype(np.int64),
        annotator_index=annotator_index.astype(np.int64).ravel(), answer=rows["label"][live],
        annotator_ids=annotator_ids.astype(np.int64),
        in_consensus=~np.isin(annotator_ids, np.array(list(excluded), dtype=np.int64)),
        labels=labels, category_class=category_class, classes=classes, watermark=watermark,
    )
    if project.valence_arousal:
        inputs.valence, inputs.arousal = rows["valence"][live], rows["arousal"][live]
    if au_numbers:
        value = rows["au"][live]
        inputs.au_numbers = au_numbers
        inputs.au_present = np.where(value < 0, -1, value > 0).astype(np.int8)
        inputs.au_intensity = (np.where(value > 0, value, np.where(value == 0, 0, -1)) if project.au_intensity
                               else np.where(value == 0, 0, -1)).astype(np.int8)
    return inputs


def answers_sha256(inputs: QualityInputs) -> str:
    return _sha256_ids(inputs.answer_ids)


def fingerprint(inputs: QualityInputs, *, model_version: ModelVersion | None, prediction_count: int, params: dict) -> str:
    """Same answers, items, exclusions, model and options -> same fingerprint -> the same run."""
    digest = hashlib.sha256()
    model = f"{model_version.pk}:{model_version.sha256}" if model_version else "no model"
    for part in (answers_sha256(inputs), _sha256_ids(inputs.item_ids),
                 _sha256_ids(inputs.annotator_ids[~inputs.in_consensus]), model,
                 str(prediction_count), repr(sorted(params.items())), repr(inputs.labels)):
        digest.update(part.encode())
        digest.update(b"|")
    return digest.hexdigest()


def predictions_load(*, project: Project, inputs: QualityInputs, model_version: ModelVersion) -> tuple[np.ndarray, int]:
    """float (N, K) probabilities of the model version over the project's classes, renormalised; and the count.

    Raises LookupError if an item has no prediction (the caller pre-labels first)."""
    order = [list(model_version.classes).index(c) for c in inputs.classes]
    _, _, prediction_columns = _columns()
    ids, rows = prediction_columns(project_id=project.pk, model_version_id=model_version.pk, order=order)
    position = np.searchsorted(inputs.item_ids, ids)
    known = position < len(inputs.item_ids)
    known[known] = inputs.item_ids[position[known]] == ids[known]
    probs = np.full((len(inputs.item_ids), len(order)), np.nan)
    probs[position[known]] = rows[known]
    if np.isnan(probs).any():
        raise LookupError("some items have no prediction from this model version")
    probs = np.clip(probs, 1e-9, None)
    return probs / probs.sum(axis=1, keepdims=True), int(known.sum())


def in_sample_mask(*, inputs: QualityInputs, model_version: ModelVersion) -> np.ndarray:
    """bool (N,): items the model version may have trained on (see the module docstring)."""
    trained = set(model_version.config.get("trained_on_splits", []) if isinstance(model_version.config, dict) else [])
    trained_codes = [code for code, name in enumerate(inputs.split_names) if name in trained]
    mask = np.isin(inputs.split, np.array(trained_codes, dtype=np.int64))
    if model_version.trained_items:  # trained by the platform: exactly the faces it learned from
        mask |= np.isin(inputs.item_ids, np.array(list(model_version.trained_items), dtype=np.int64))
    elif model_version.dataset_version_id:
        seen = DatasetVersionItem.objects.filter(version_id=model_version.dataset_version_id)
        seen = seen.values_list("item_id", flat=True)
        mask |= np.isin(inputs.item_ids, np.fromiter(seen.iterator(chunk_size=20_000), dtype=np.int64))
    return mask


def _erased_mask(item_ids: np.ndarray) -> np.ndarray:
    """bool (N,): which of the faces are erased (no image left to cross-validate on; they keep their predictions)."""
    if not len(item_ids):
        return np.zeros(0, dtype=bool)
    erased = Item.objects.filter(erased_at__isnull=False, pk__gte=int(item_ids.min()), pk__lte=int(item_ids.max()))
    return np.isin(item_ids, np.array(list(erased.values_list("id", flat=True)), dtype=np.int64))


def probabilities_out_of_sample(*, inputs: QualityInputs, probs: np.ndarray, model_version: ModelVersion, params: dict,
                                images_for) -> tuple[np.ndarray, dict, np.ndarray]:
    """Replace in-sample rows of probs (N, K) by K-fold crossval probabilities where labels allow.

    images_for(item_ids) -> uint8 (n, 48, 48). Returns (probs, description for the run, each item's source:
    str (N,) of PROBABILITY_SOURCES)."""
    in_sample = in_sample_mask(inputs=inputs, model_version=model_version)
    per_item = np.where(in_sample, "in-sample", "held-out").astype(object)
    k = len(inputs.classes)
    soft = np.zeros((len(inputs.item_ids), k))
    model_answer = inputs.category_class[inputs.answer] >= 0
    np.add.at(soft, (inputs.item_index[model_answer], inputs.category_class[inputs.answer[model_answer]]), 1.0)
    has_reference = (soft.sum(axis=1) == 0) & (inputs.reference >= 0)
    has_reference[has_reference] &= inputs.category_class[inputs.reference[has_reference]] >= 0
    soft[has_reference, inputs.category_class[inputs.reference[has_reference]]] = 1.0
    labelled = soft.sum(axis=1) > 0
    target = np.flatnonzero(in_sample & labelled & ~_erased_mask(inputs.item_ids))
    folds = int(params.get("crossval_folds", CROSSVAL_FOLDS))
    info = {"model_version": model_version.name, "held_out_items": int((~in_sample).sum()),
            "in_sample_items": int(in_sample.sum()), "crossval_items": 0}
    min_items = int(params.get("crossval_min_items", CROSSVAL_MIN_ITEMS))
    if len(target) and params.get("crossval", True) and len(target) >= min_items and len(inputs.classes) == 8:
        from ml.crossval import out_of_sample_probs

        images = images_for(inputs.item_ids[target])
        budget = float(params.get("crossval_budget_s", CROSSVAL_BUDGET_S))
        oos = out_of_sample_probs(images, (soft[target] / soft[target].sum(axis=1, keepdims=True)).astype(np.float32),
                                  folds=folds, time_budget_s=budget)
        probs = probs.copy()
        probs[target] = np.clip(oos, 1e-9, None) / np.clip(oos, 1e-9, None).sum(axis=1, keepdims=True)
        per_item[target] = "crossval"
        info["crossval_items"] = int(len(target))
        info["in_sample_items"] = int(in_sample.sum() - len(target))
    # Full names when one source served every item, short ones joined when several did (the field holds 32).
    parts = [(full, short) for n, full, short in (
        (info["held_out_items"], "held-out-model", "held-out"), (info["crossval_items"], f"crossval-{folds}fold", f"cv-{folds}fold"),
        (info["in_sample_items"], "in-sample-model", "in-sample")) if n]
    info["source"] = parts[0][0] if len(parts) == 1 else "+".join(short for _, short in parts) or "held-out-model"
    return probs, info, per_item

"""A seeding helper for audit tests: answers and a succeeded quality run written directly (no worker needed)."""
import math
import random
import uuid
from collections import Counter
from datetime import timedelta

from django.utils import timezone

from annotate.models import Annotation, Item, QualityAnnotatorResult, QualityItemResult, QualityRun

# Labels that people mix up, so seeded data has realistic confusions (fear vs surprise first).
CONFUSIONS = {"fear": "surprise", "surprise": "fear", "contempt": "neutral", "disgust": "anger", "anger": "disgust",
              "sadness": "neutral", "neutral": "sadness", "happiness": "neutral"}
TRUTH_WEIGHTS = {"neutral": 30, "happiness": 26, "surprise": 12, "sadness": 11, "anger": 9, "disgust": 3, "fear": 5, "contempt": 4}


def seed_audit(project, annotators, items, *, seed: int = 0, answers_per_item: int = 3, noise=None, runs: int = 1,
               hours: int = 48, truth: dict | None = None, labels_for=None, bias: dict | None = None) -> QualityRun:
    """Give each item answers from `answers_per_item` annotators and write `runs` succeeded quality runs.

    noise: {annotator index: error rate}; default 0.15 for everybody. truth: {item id: label} (random
    by default); labels_for(item, rnd, n) -> n answer labels, to replay real vote distributions.
    bias: {annotator index: (label, other)}: that annotator answers `other` for 80% of `label` faces.
    Returns the latest run.
    """
    rnd = random.Random(seed)
    labels = project.labels
    truth_labels, weights = zip(*[(k, v) for k, v in TRUTH_WEIGHTS.items() if k in labels])
    noise = noise or {}
    now = timezone.now()
    answers, truth = [], dict(truth or {})
    for item in items:
        true = truth.setdefault(item.pk, rnd.choices(truth_labels, weights)[0])
        people = rnd.sample(list(enumerate(annotators)), min(answers_per_item, len(annotators)))
        given = labels_for(item, rnd, len(people)) if labels_for else [true] * len(people)
        for (index, user), label in zip(people, given):
            if rnd.random() < noise.get(index, 0.15 if not labels_for else 0.0):
                label = CONFUSIONS.get(true, "neutral") if rnd.random() < 0.7 else rnd.choice(truth_labels)
            if index in (bias or {}) and true == bias[index][0] and rnd.random() < 0.8:
                label = bias[index][1]
            answers.append(Annotation(project=project, item=item, annotator=user, label=label, client_id=uuid.uuid4(),
                                      seconds=round(rnd.lognormvariate(1.0, 0.45) + 0.5, 2),
                                      flags=["occluded"] if rnd.random() < 0.05 else []))
    Annotation.objects.bulk_create(answers)
    # Spread answers over the last `hours` hours with a day-and-night rhythm, as a real crowd works.
    offsets = list(range(hours * 60))
    rhythm = [1.2 + math.sin((now - timedelta(minutes=m)).hour / 24 * 2 * math.pi - 1.9) for m in offsets]
    for a, minutes in zip(answers, rnd.choices(offsets, rhythm, k=len(answers))):
        a.created_at = now - timedelta(minutes=minutes, seconds=rnd.uniform(0, 59))
    Annotation.objects.bulk_update(answers, ["created_at"], batch_size=500)
    by_item: dict[int, list[Annotation]] = {}
    for a in answers:
        by_item.setdefault(a.item_id, []).append(a)
    for item in items:
        item.answer_count = len(by_item.get(item.pk, []))
    Item.objects.bulk_update(items, ["answer_count"])
    run = None
    for r in range(runs):
        run = _run(project, annotators, items, by_item, truth, rnd, age=timedelta(days=runs - 1 - r), step=r)
    return run


def _run(project, annotators, items, by_item, truth, rnd, *, age, step) -> QualityRun:
    labels = project.labels
    k = len(labels)
    alpha = round(0.52 + 0.06 * step + rnd.uniform(-0.02, 0.02), 3)
    run = QualityRun.objects.create(
        project=project, probability_source="held-out-model",
        annotation_count=sum(map(len, by_item.values())),
        summary={"krippendorff_alpha": alpha, "fleiss_kappa": round(alpha - 0.03, 3), "per_class": {},
                 "class_balance": {}, "near_duplicates": [], "outliers": [], "probability_source": "held-out-model"},
        finished_at=timezone.now() - age,
    )
    QualityRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - age)
    results, consensus = [], {}
    for item in items:
        votes = Counter(a.label for a in by_item.get(item.pk, []))
        if not votes:
            continue
        top, n = votes.most_common(1)[0]
        consensus[item.pk] = top
        share = n / sum(votes.values())
        model = truth[item.pk] if rnd.random() < 0.8 else CONFUSIONS.get(truth[item.pk], "neutral")
        quality = max(0.0, min(1.0, share * 0.8 + (0.2 if model == top else 0.0) - rnd.uniform(0, 0.15)))
        results.append(QualityItemResult(
            run=run, item=item, num_answers=sum(votes.values()), votes=dict(votes), consensus_label=top,
            consensus_quality=round(quality, 4), label_quality=round(quality, 4), label_issue=quality < 0.5,
            active_learning_score=round(1 - quality, 4), model_label=model, model_confidence=round(rnd.uniform(0.35, 0.98), 3),
        ))
    QualityItemResult.objects.bulk_create(results)
    biases = _biases(annotators, items, by_item, consensus, labels)
    people = []
    for user in annotators:
        mine = [a for answers in by_item.values() for a in answers if a.annotator_id == user.pk]
        if not mine:
            continue
        matrix = [[0] * k for _ in range(k)]
        for a in mine:
            matrix[labels.index(consensus[a.item_id])][labels.index(a.label)] += 1
        agree = sum(matrix[i][i] for i in range(k)) / len(mine)
        rows = [(sum(row), row[i] / sum(row) if sum(row) else 1.0, labels[i]) for i, row in enumerate(matrix)]
        worst = min((r for r in rows if r[0]), key=lambda r: r[1])[2]
        crowdlab = round(agree * 0.9 + 0.05, 4)
        bias, bias_from, bias_to = biases.get(user.pk, (0.0, "", ""))
        people.append(QualityAnnotatorResult(
            run=run, annotator=user, num_answers=len(mine), quality=round(crowdlab * (1 - bias), 4), agreement=round(agree, 4),
            crowdlab_quality=crowdlab, bias=round(bias, 4), bias_from=bias_from, bias_to=bias_to,
            gold_accuracy=round(min(1.0, agree + rnd.uniform(-0.05, 0.05)), 4), gold_answers=rnd.randint(3, 12),
            worst_class=worst, confusion=matrix,
        ))
    QualityAnnotatorResult.objects.bulk_create(people)
    return run


def _biases(annotators, items, by_item, consensus, labels) -> dict:
    """{user id: (bias, from, to)} by ml.annotator_bias.annotator_bias over the seeded answers."""
    import numpy as np

    from ml.annotator_bias import annotator_bias

    users = {u.pk: n for n, u in enumerate(annotators)}
    index = {item.pk: n for n, item in enumerate(items)}
    rows = [(index[a.item_id], users[a.annotator_id], labels.index(a.label)) for answers in by_item.values() for a in answers]
    item_index, annotator_index, answer = (np.array(col) for col in zip(*rows))
    counts = np.zeros((len(items), len(labels)), int)
    np.add.at(counts, (item_index, answer), 1)
    target = np.array([labels.index(consensus[item.pk]) if item.pk in consensus else -1 for item in items])
    bias, cell = annotator_bias(item_index, annotator_index, answer, target, counts, in_consensus=np.ones(len(annotators), bool))
    return {u.pk: (float(bias[n]), labels[cell[n, 0]] if cell[n, 0] >= 0 else "", labels[cell[n, 1]] if cell[n, 1] >= 0 else "")
            for u, n in ((u, users[u.pk]) for u in annotators)}

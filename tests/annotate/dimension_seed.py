"""A seeding helper for the #18 dashboard tests: answers with valence, arousal and action units, and a quality run
carrying the storage contract's fields (QualityItemResult valence/arousal/AU consensus and checks,
QualityAnnotatorResult.dimensions, QualityRun.summary["dimensions"]), written directly: no worker, no quality run.

The figures are simple stand-ins (means, root mean squares, shares), not the ml/ estimators: the dashboard reads
whatever the run stored, so its tests need fields of the right shape with values a test can predict.
"""
import random

import numpy as np

from annotate.models import Annotation, DimensionCheck, QualityAnnotatorResult, QualityItemResult, QualityRun
from ml.action_units import AU_NAMES, EMFACS_PROTOTYPES
from ml.cross_checks import VALENCE_THRESHOLD, expression_au_check, expression_au_reason, expression_valence_reason
from ml.valence_arousal import SPREAD_THRESHOLD, icc_oneway, interval_alpha
from tests.annotate.audit_seed import seed_audit

# Where each expression sits on the circumplex (Russell 1980, roughly): (valence, arousal).
CIRCUMPLEX = {"neutral": (0.0, -0.1), "happiness": (0.7, 0.4), "surprise": (0.2, 0.75), "sadness": (-0.6, -0.4),
              "anger": (-0.65, 0.65), "disgust": (-0.6, 0.25), "fear": (-0.55, 0.7), "contempt": (-0.4, 0.1)}


def seed_dimensions(project, annotators, items, *, seed: int = 0, va_offset: dict | None = None, misses: dict | None = None,
                    spread_items: set | None = None, no_smile: set | None = None, sad_happy: set | None = None,
                    scatter_limit: int = 3000, au_noise: float = 0.02, **audit) -> QualityRun:
    """seed_audit's answers and run, then valence / arousal / AUs on every answer and the run's dimension fields.

    va_offset {annotator index: valence shift}; misses {annotator index: AU never marked}; spread_items: faces whose
    valence answers are scattered; no_smile: faces labelled as the crowd says but with every AU absent (happiness
    faces then contradict AU12); sad_happy: faces whose valence answers are strongly negative; au_noise: the share of
    AU judgements that flip away from the expression's EMFACS prototype.
    """
    run = seed_audit(project, annotators, items, seed=seed, **audit)
    rnd = random.Random(seed + 1)
    va, aus = project.valence_arousal, [int(n) for n in project.action_units]
    users = {u.pk: n for n, u in enumerate(annotators)}
    results = {r.item_id: r for r in QualityItemResult.objects.filter(run=run)}
    answers = list(Annotation.objects.filter(project=project).order_by("id"))
    for a in answers:
        face = results[a.item_id]
        v0, r0 = CIRCUMPLEX.get(face.consensus_label, (0.0, 0.0))
        if va:
            v = v0 + (va_offset or {}).get(users[a.annotator_id], 0.0) + rnd.gauss(0, 0.08)
            if a.item_id in (spread_items or ()):
                v = rnd.choice((-0.9, 0.9)) + rnd.gauss(0, 0.05)
            if a.item_id in (sad_happy or ()):
                v = -0.75 + rnd.gauss(0, 0.05)
            a.valence, a.arousal = _clip(v), _clip(r0 + rnd.gauss(0, 0.08))
        if aus:
            prototype = set(EMFACS_PROTOTYPES.get(face.consensus_label, ((), ()))[0])
            given = {}
            for n in aus:
                present = (n in prototype) if rnd.random() >= au_noise else (n not in prototype)
                if a.item_id in (no_smile or ()) or (misses or {}).get(users[a.annotator_id]) == n:
                    present = False
                given[str(n)] = int(present)
            a.action_units = given
    Annotation.objects.bulk_update(answers, ["valence", "arousal", "action_units"], batch_size=500)
    _item_fields(project, run, results, answers, aus)
    _annotator_fields(run, answers, results, aus, va)
    run.summary = {**run.summary, "dimensions": _summary(project, results, answers, aus, va, rnd, scatter_limit)}
    run.save(update_fields=["summary"])
    return run


def _clip(x: float) -> float:
    return round(max(-1.0, min(1.0, x)), 3)


def _rms(values) -> float | None:
    return float(np.sqrt(np.mean((np.array(values) - np.mean(values)) ** 2))) if len(values) >= 2 else None


def _item_fields(project, run, results, answers, aus):
    by_item: dict[int, list[Annotation]] = {}
    for a in answers:
        by_item.setdefault(a.item_id, []).append(a)
    labels = list(project.labels)
    for item_id, face in results.items():
        mine = by_item.get(item_id, [])
        checks, reasons = 0, []
        if project.valence_arousal:
            vs, rs = [a.valence for a in mine], [a.arousal for a in mine]
            face.valence, face.arousal = round(float(np.median(vs)), 3), round(float(np.median(rs)), 3)
            face.valence_spread, face.arousal_spread = _rms(vs), _rms(rs)
            if (face.valence_spread or 0) > SPREAD_THRESHOLD:
                checks |= DimensionCheck.VALENCE_SPREAD
                reasons.append(f"valence answers spread widely ({face.valence_spread:.2f} around their mean)")
            sign = {"happiness": 1, "sadness": -1, "anger": -1, "fear": -1, "disgust": -1, "contempt": -1}.get(face.consensus_label, 0)
            if sign and sign * face.valence <= -VALENCE_THRESHOLD:
                checks |= DimensionCheck.EXPRESSION_VS_VALENCE
                reasons.append(f"called {face.consensus_label} by the crowd, but {expression_valence_reason(face.consensus_label, face.valence)}")
        if aus:
            p = {str(n): float(np.mean([a.action_units[str(n)] for a in mine])) for n in aus}
            face.action_units = p
            if any(0.2 < v < 0.8 for v in p.values()):
                checks |= DimensionCheck.AU_DISPUTED
                disputed = [f"AU{n}" for n in aus if 0.2 < p[str(n)] < 0.8]
                reasons.append(f"annotators split on {', '.join(disputed)}")
            row = np.array([[1 if p[str(n)] >= 0.5 else 0 for n in aus]])
            conflict, _ = expression_au_check(np.array([labels.index(face.consensus_label)]), row, au_numbers=aus, class_names=labels)
            if conflict[0]:
                checks |= DimensionCheck.EXPRESSION_VS_AU
                reasons.append(f"called {face.consensus_label} by the crowd, but "
                               + expression_au_reason(face.consensus_label, row[0], au_numbers=aus).removeprefix(f"labelled {face.consensus_label} but "))
        face.checks, face.check_reasons = int(checks), reasons
    QualityItemResult.objects.bulk_update(list(results.values()), [
        "valence", "arousal", "valence_spread", "arousal_spread", "action_units", "checks", "check_reasons"], batch_size=500)


def _annotator_fields(run, answers, results, aus, va):
    from scipy.stats import beta

    people = {r.annotator_id: r for r in QualityAnnotatorResult.objects.filter(run=run)}
    for user_id, person in people.items():
        mine = [a for a in answers if a.annotator_id == user_id]
        dims = {}
        if va:
            for key in ("valence", "arousal"):
                residual = [getattr(a, key) - getattr(results[a.item_id], key) for a in mine]
                n, offset = len(residual), float(np.mean(residual))
                noise = float(np.std(residual)) or 0.05
                margin = 4 * noise / np.sqrt(n) + 0.03  # wide enough that an honest annotator reads as within noise
                dims[key] = {"offset": offset if n >= 3 else None, "noise": noise if n >= 3 else None,
                             "offset_bound": float(np.sign(offset) * max(0.0, abs(offset) - margin)) if n >= 3 else None,
                             "noise_lower": 0.8 * noise if n >= 3 else None, "shared": n}
        if aus:
            per = {}
            for number in aus:
                positives = [a for a in mine if (results[a.item_id].action_units or {}).get(str(number), 0) >= 0.5]
                marked = sum(a.action_units[str(number)] for a in positives)
                k = len(positives)
                per[str(number)] = {"sensitivity": marked / k if k >= 3 else None,
                                    "sensitivity_upper": float(beta.ppf(0.999, marked + 1, k - marked)) if k >= 3 and marked < k else (1.0 if k >= 3 else None),
                                    "specificity": None, "specificity_upper": None, "positives": k, "negatives": len(mine) - k}
            dims["action_units"] = per
        checkable = len(mine)
        contradictions = sum(1 for a in mine if results[a.item_id].checks & (DimensionCheck.EXPRESSION_VS_AU | DimensionCheck.EXPRESSION_VS_VALENCE))
        dims["self_consistency"] = {"checkable": checkable, "contradictions": contradictions,
                                    "share": contradictions / checkable if checkable >= 3 else None,
                                    "share_lower": float(beta.ppf(0.001, contradictions, checkable - contradictions + 1)) if contradictions else 0.0}
        person.dimensions = dims
    QualityAnnotatorResult.objects.bulk_update(list(people.values()), ["dimensions"])


def _agreement(faces: list[int], values: list[float], item_ids: list[int]) -> dict:
    index = {i: n for n, i in enumerate(sorted(set(item_ids)))}
    item = np.array([index[i] for i in item_ids], dtype=np.int64)
    value = np.array(values, dtype=float)
    alpha, icc = interval_alpha(item, value), icc_oneway(item, value)
    return {"alpha": None if np.isnan(alpha) else round(float(alpha), 3), "icc": None if np.isnan(icc) else round(float(icc), 3),
            "faces": len(faces), "answers": len(values)}


def _summary(project, results, answers, aus, va, rnd, scatter_limit) -> dict:
    out = {}
    labels = [c for c in project.labels if any(r.consensus_label == c for r in results.values())]
    if va:
        for key in ("valence", "arousal"):
            rows = [(a.item_id, getattr(a, key)) for a in answers]
            entry = _agreement(list(results), [v for _, v in rows], [i for i, _ in rows])
            entry["by_class"] = {}
            for c in labels:
                mine = [(i, v) for i, v in rows if results[i].consensus_label == c]
                entry["by_class"][c] = _agreement(sorted({i for i, _ in mine}), [v for _, v in mine], [i for i, _ in mine])
            out[key] = entry
        points = sorted(results)
        chosen = sorted(rnd.sample(points, scatter_limit)) if len(points) > scatter_limit else points
        out["scatter"] = {"item": chosen, "valence": [results[i].valence for i in chosen], "arousal": [results[i].arousal for i in chosen],
                          "label": [results[i].consensus_label for i in chosen], "sampled_from": len(points)}
    if aus:
        per_au = {}
        for n in aus:
            judged = [a.action_units[str(n)] for a in answers]
            per_au[str(n)] = {"name": AU_NAMES[n], "alpha": round(0.4 + 0.4 * rnd.random(), 3), "prevalence": round(float(np.mean(judged)), 3),
                              "positive_agreement": round(0.5 + 0.4 * rnd.random(), 3), "intensity_alpha": None,
                              "faces": len(results), "judgements": len(judged)}
        faces = [sum(1 for r in results.values() if r.consensus_label == c) for c in labels]
        share = [[round(sum(1 for r in results.values() if r.consensus_label == c and r.action_units[str(n)] >= 0.5) / f, 3) for n in aus]
                 for c, f in zip(labels, faces)]
        out["action_units"] = {"numbers": aus, "per_au": per_au, "by_expression": {"classes": labels, "aus": aus, "share": share, "faces": faces}}
    names = {}
    if va:
        names.update(valence_spread=DimensionCheck.VALENCE_SPREAD, arousal_spread=DimensionCheck.AROUSAL_SPREAD,
                     expression_vs_valence=DimensionCheck.EXPRESSION_VS_VALENCE)
    if aus:
        names.update(au_disputed=DimensionCheck.AU_DISPUTED, expression_vs_au=DimensionCheck.EXPRESSION_VS_AU)
    out["checks"] = {k: sum(1 for r in results.values() if r.checks & flag) for k, flag in names.items()}
    out["checked_faces"] = sum(1 for r in results.values() if r.checks)  # as dimension_summary records it
    return out

"""Dashboard reads for valence-arousal and action units (#18): the run's precomputed figures with what each can bear.

Everything but a face's answers comes from QualityRun.summary["dimensions"], written at the end of the run, so no
page scans answers; a face's answers are read by annotation_item_idx. A project that does not ask for a dimension
gets no key for it, and the pages draw no panel for it.
"""
from django.db.models import Count, F, Q

from annotate.models import Annotation, DimensionCheck, Item, Project, QualityAnnotatorResult, QualityItemResult, QualityRun
from ml.action_units import AU_NAMES

# Below this many faces a per-class share or agreement is not readable: a share over 20 faces still has a standard
# error near 0.1 (the same line as the annotators page's THIN_EVIDENCE_FACES).
THIN_CLASS_FACES = 20
# Nominal alpha on a rare AU swings with a single face (the kappa paradox): below this prevalence, or with fewer
# present judgements than ALPHA_MIN_PRESENT behind it, the page says alpha is not stable rather than showing it plain.
ALPHA_STABLE_PREVALENCE = 0.05
ALPHA_MIN_PRESENT = 10
# An annotator's AU sensitivity is "low" when even its one-sided (1 - BIAS_ALPHA) upper bound is below this, well
# under the 0.9 or so of careful peers: at that strict bound, 0 of 9 faces reaches 0.54 and 2 of 10 still 0.72, while
# 5 of 10 (0.89) is not condemned.
LOW_SENSITIVITY = 0.75
# A self-contradiction share is a finding only when its lower bound reaches this: honest annotators contradict
# themselves now and then (a smile judged without AU12), as the annotators page shows a bias only past 5 points.
CONTRADICTION_SHOWN = 0.05

# The issue filter's values, in DimensionCheck order, each with the dimension it needs.
CHECKS = {
    "valence_spread": (DimensionCheck.VALENCE_SPREAD, "valence_arousal"),
    "arousal_spread": (DimensionCheck.AROUSAL_SPREAD, "valence_arousal"),
    "au_disputed": (DimensionCheck.AU_DISPUTED, "action_units"),
    "expression_vs_au": (DimensionCheck.EXPRESSION_VS_AU, "action_units"),
    "expression_vs_valence": (DimensionCheck.EXPRESSION_VS_VALENCE, "valence_arousal"),
}
ANY_CHECK = "any"  # any dimension check failed


def project_dimensions(*, project: Project) -> dict[str, bool]:
    """Which of the dimensions beyond the expression class the project asks for, and whether it asks that class
    (a project may ask only valence-arousal or action units, #18: then nothing is broken down by expression)."""
    return {"expression": bool(project.labels), "valence_arousal": bool(project.valence_arousal),
            "action_units": bool(project.action_units)}


def check_options(*, project: Project) -> list[dict]:
    """The dimension-check filter's choices for this project (none when it asks for neither dimension)."""
    asks = project_dimensions(project=project)
    cross = {"expression_vs_au", "expression_vs_valence"}  # need an expression to check against
    options = [{"value": key, "label": flag.label} for key, (flag, needs) in CHECKS.items()
               if asks[needs] and (asks["expression"] or key not in cross)]
    return [{"value": ANY_CHECK, "label": "any dimension check"}, *options] if options else []


def check_mask(value: str) -> int:
    """The DimensionCheck bits a filter value selects (0: no such value)."""
    if value == ANY_CHECK:
        return int(sum(flag for flag, _ in CHECKS.values()))
    return int(CHECKS[value][0]) if value in CHECKS else 0


def check_names(bits: int) -> list[str]:
    """The filter values of the checks set in `bits`."""
    return [key for key, (flag, _) in CHECKS.items() if bits & flag]


def _summary(run: QualityRun | None) -> dict:
    dims = (run.summary or {}).get("dimensions") if run is not None else None
    return dims if isinstance(dims, dict) else {}


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _agreement(entry: dict) -> dict:
    faces = int(entry.get("faces") or 0)
    return {"alpha": _number(entry.get("alpha")), "icc": _number(entry.get("icc")), "faces": faces,
            "answers": int(entry.get("answers") or 0), "thin": faces < THIN_CLASS_FACES}


def _va(entry, labels: list[str]) -> dict | None:
    if not isinstance(entry, dict):
        return None
    by_class = entry.get("by_class") if isinstance(entry.get("by_class"), dict) else {}
    # A class no face has says nothing: it gets no row.
    order = [c for c in labels if c in by_class] + sorted(set(by_class) - set(labels))
    order = [c for c in order if int((by_class[c] or {}).get("faces") or 0) > 0]
    return {**_agreement(entry), "by_class": [{"label": c, **_agreement(by_class[c] or {})} for c in order]}


def _alpha_note(prevalence: float | None, judgements: int) -> str:
    """Why an AU's alpha cannot be read plainly ("" when it can)."""
    if prevalence is None or not judgements:
        return "no face judged twice"
    if prevalence in (0, 1):
        return f"{'never' if prevalence == 0 else 'always'} judged present: alpha is undefined"
    if min(prevalence, 1 - prevalence) < ALPHA_STABLE_PREVALENCE:
        return "rarely present: alpha is not stable" if prevalence < 0.5 else "almost always present: alpha is not stable"
    if min(prevalence, 1 - prevalence) * judgements < ALPHA_MIN_PRESENT:
        return f"fewer than {ALPHA_MIN_PRESENT} judgements on the rarer side: alpha is not stable"
    return ""


def _per_au(entry: dict) -> list[dict]:
    numbers = [int(n) for n in entry.get("numbers") or []]
    per_au = entry.get("per_au") if isinstance(entry.get("per_au"), dict) else {}
    rows = []
    for number in numbers:
        au = per_au.get(str(number)) or {}
        prevalence, judgements = _number(au.get("prevalence")), int(au.get("judgements") or 0)
        rows.append({"au": number, "name": au.get("name") or AU_NAMES.get(number, ""), "alpha": _number(au.get("alpha")),
                     "prevalence": prevalence, "positive_agreement": _number(au.get("positive_agreement")),
                     "intensity_alpha": _number(au.get("intensity_alpha")), "faces": int(au.get("faces") or 0),
                     "judgements": judgements, "alpha_note": _alpha_note(prevalence, judgements)})
    return rows


def _by_expression(entry) -> dict | None:
    if not isinstance(entry, dict) or not entry.get("classes"):
        return None
    faces = [int(n or 0) for n in entry.get("faces") or []]
    rows = [i for i, n in enumerate(faces) if n > 0]  # a class without faces gets no row
    share = entry.get("share") or []
    return {"classes": [entry["classes"][i] for i in rows], "aus": [int(n) for n in entry.get("aus") or []],
            "share": [[_number(v) for v in share[i]] for i in rows], "faces": [faces[i] for i in rows],
            "thin": [faces[i] < THIN_CLASS_FACES for i in rows]}


def dimension_report(*, project: Project, run: QualityRun | None) -> dict:
    """The run's valence / arousal agreement (overall and by class), per-AU agreement, AU prevalence per
    expression and check counts, each with what it can bear; keys only for the dimensions the project asks for."""
    asks, dims = project_dimensions(project=project), _summary(run)
    labels = list(project.labels)
    report = {"run": run.id if run else None, "asks": asks, "thin_class_faces": THIN_CLASS_FACES,
              "alpha_stable_prevalence": ALPHA_STABLE_PREVALENCE}
    if asks["valence_arousal"]:
        report["valence"], report["arousal"] = _va(dims.get("valence"), labels), _va(dims.get("arousal"), labels)
    if asks["action_units"]:
        au = dims.get("action_units") if isinstance(dims.get("action_units"), dict) else {}
        report["action_units"] = {"per_au": _per_au(au), "by_expression": _by_expression(au.get("by_expression"))}
    if asks["valence_arousal"] or asks["action_units"]:
        counts = dims.get("checks") if isinstance(dims.get("checks"), dict) else {}
        report["checks"] = {o["value"]: int(counts.get(o["value"]) or 0) for o in check_options(project=project) if o["value"] != ANY_CHECK}
    return report


def va_scatter(*, project: Project, run: QualityRun | None) -> dict:
    """The run's consensus valence-arousal points (at most the run's sample); none when the project asks no VA."""
    scatter = _summary(run).get("scatter") if project.valence_arousal else None
    scatter = scatter if isinstance(scatter, dict) else {}
    items = [int(i) for i in scatter.get("item") or []]
    columns = [scatter.get(k) or [] for k in ("valence", "arousal", "label")]
    points = [(i, v, a, label or "") for i, v, a, label in zip(items, *columns)
              if isinstance(v, (int, float)) and isinstance(a, (int, float))]
    return {"run": run.id if run else None, "asked": bool(project.valence_arousal), "item": [p[0] for p in points], "valence": [p[1] for p in points],
            "arousal": [p[2] for p in points], "label": [p[3] for p in points],
            "sampled_from": int(scatter.get("sampled_from") or len(points))}


def item_dimension_answers(*, item: Item) -> list[dict]:
    """The face's live answers with their class, valence, arousal and action units, oldest first (the scatter's hover)."""
    return list(
        Annotation.objects.filter(item=item, replaced_by__isnull=True).order_by("created_at", "id")
        .values("id", "label", "valence", "arousal", "action_units", "annotator__username")
    )


def _evidence(figure, *, lower, shown: float = 0.0) -> str:
    """none: no figure (too little evidence); within_noise: a figure whose bound does not pass `shown` (0: its bound
    does not tell it apart from 0); found."""
    if figure is None:
        return "none"
    return "found" if lower is not None and abs(lower) > shown else "within_noise"


def annotator_dimension_row(dims: dict) -> dict:
    """One annotator's QualityAnnotatorResult.dimensions, with each figure's evidence state and only the AUs
    where their sensitivity is low (its upper bound below LOW_SENSITIVITY)."""
    row = {}
    for key in ("valence", "arousal"):
        d = dims.get(key)
        if isinstance(d, dict):
            offset, bound, shared = _number(d.get("offset")), _number(d.get("offset_bound")), int(d.get("shared") or 0)
            noise, noise_lower = _number(d.get("noise")), _number(d.get("noise_lower"))
            row[key] = {"offset": offset, "offset_bound": bound, "noise": noise, "noise_lower": noise_lower, "shared": shared,
                        "offset_evidence": _evidence(offset, lower=bound), "noise_evidence": "none" if noise is None else "found"}
    aus = dims.get("action_units")
    if isinstance(aus, dict):
        low = []
        for number, d in sorted(aus.items(), key=lambda kv: int(kv[0])):
            upper = _number((d or {}).get("sensitivity_upper"))
            if upper is not None and _number(d.get("sensitivity")) is not None and upper < LOW_SENSITIVITY:
                low.append({"au": int(number), "name": AU_NAMES.get(int(number), ""), "sensitivity": _number(d["sensitivity"]),
                            "sensitivity_upper": upper, "positives": int(d.get("positives") or 0)})
        judged = sum(1 for d in aus.values() if _number((d or {}).get("sensitivity")) is not None)
        row["action_units"] = {"low_sensitivity": low, "judged_aus": judged, "aus": len(aus)}
    sc = dims.get("self_consistency")
    if isinstance(sc, dict):
        share, lower = _number(sc.get("share")), _number(sc.get("share_lower"))
        row["self_consistency"] = {"checkable": int(sc.get("checkable") or 0), "contradictions": int(sc.get("contradictions") or 0),
                                   "share": share, "share_lower": lower,
                                   "evidence": _evidence(share, lower=lower, shown=CONTRADICTION_SHOWN)}
    return row


def annotator_dimensions(*, project: Project, run: QualityRun | None) -> dict:
    """Per annotator of the run, their valence / arousal offset and noise, low AU sensitivities and
    self-contradiction share, in one query over the run's annotator results."""
    asks = project_dimensions(project=project)
    rows = {}
    if run is not None and (asks["valence_arousal"] or asks["action_units"]):
        results = QualityAnnotatorResult.objects.filter(run=run).values_list("annotator_id", "annotator__username", "dimensions")
        for user_id, username, dims in results:
            rows[str(user_id)] = {"username": username, **annotator_dimension_row(dims if isinstance(dims, dict) else {})}
    return {"run": run.id if run else None, "asks": asks, "low_sensitivity": LOW_SENSITIVITY, "results": rows}


# The QualityItemResult columns an issue row shows beside the class consensus.
DIMENSION_FIELDS = ("valence", "arousal", "valence_spread", "arousal_spread", "action_units", "checks", "check_reasons")


def issue_dimensions(result) -> dict:
    """An issue row's valence / arousal / AU consensus and the dimension checks it failed, with their reasons."""
    aus = result.action_units if isinstance(result.action_units, dict) else None
    return {"valence": result.valence, "arousal": result.arousal, "valence_spread": result.valence_spread,
            "arousal_spread": result.arousal_spread, "action_units": aus, "checks": check_names(result.checks or 0),
            "check_reasons": list(result.check_reasons or [])}


def check_facet(*, project: Project, run: QualityRun, queue, default: bool) -> dict[str, int]:
    """{check filter value: faces the queue shows with it}, the other filters as they are (`queue`: the queue with
    the check filter open). With every other filter at its default the run's summary counts serve (the run counted
    them over the same faces), and only "any" is counted, on quality_item_checks_idx alone; otherwise one
    aggregate over the faces that failed a check."""
    options = [o["value"] for o in check_options(project=project)]
    if default:
        counts = _summary(run).get("checks") if isinstance(_summary(run).get("checks"), dict) else {}
        failed = _summary(run).get("checked_faces")  # runs before it was recorded: counted
        if not isinstance(failed, int):
            failed = QualityItemResult.objects.filter(run=run, checks__gt=0).count()
        return {value: failed if value == ANY_CHECK else int(counts.get(value) or 0) for value in options}
    aliases = {f"bits_{v}": F("checks").bitand(check_mask(v)) for v in options}
    row = queue.filter(checks__gt=0).alias(**aliases).aggregate(
        **{v: Count("id", filter=Q(**{f"bits_{v}__gt": 0})) for v in options})
    return {v: row[v] for v in options}

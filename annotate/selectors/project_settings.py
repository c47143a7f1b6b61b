"""What a change of a project's settings does to work already done.

The settings page previews these figures before a lead saves, and `project_update` enforces the one rule among
them that refuses a change: a change that would orphan answers already given, i.e. leave part of them outside the
schema while that dimension is still asked. Answers are append-only facts and the quality analysis reads an answer
only as the project's schema describes it, so:
- a label that answers, reviews, gold faces or imported reference labels use cannot be removed (or renamed);
- an action unit that live answers judge cannot be removed (its judgements would drop out of every later run);
- AU intensity cannot be switched off while answers hold intensities B-E (a presence-only project cannot hold
  them), nor on while answers hold presence marks (stored as 1, they would read as intensity A, a trace).
Turning valence-arousal off stays allowed: it stops a whole dimension, whose scale (-1..1) has nothing to change,
so every answer keeps its values and reads exactly as given if it is turned on again. Action units have no such
switch apart from their list (emptying it would forget which AUs were asked), so the list keeps the AUs in use.
"""
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from annotate.models import Annotation, Assignment, AssignmentStatus, DatasetVersion, Item, Prediction, Project, Review
from ml.action_units import AU_NAMES

SETTINGS_FIELDS = (
    "name", "description", "instructions", "labels", "flags", "overlap_target", "gold_rate", "show_model_hints",
    "valence_arousal", "action_units", "au_intensity",
)
LIST_FIELDS = ("labels", "flags", "action_units")
# The Conflict code `project_update` answers with, by the field of the first refused effect.
BLOCKED_CODES = {"labels": "label_in_use", "action_units": "action_unit_in_use",
                 "au_intensity": "au_intensity_in_use"}
LABEL_KEYS = "1234567890"


def project_settings_values(*, project: Project) -> dict:
    """The project's editable settings, as the settings form and the audit log see them."""
    return {name: list(getattr(project, name)) if name in LIST_FIELDS else getattr(project, name)
            for name in SETTINGS_FIELDS}


def project_settings_diff(*, project: Project, proposed: dict) -> dict[str, dict]:
    """{field: {"before": ..., "after": ...}} for each proposed value that differs from the project's."""
    current = project_settings_values(project=project)
    return {name: {"before": current[name], "after": proposed[name]}
            for name in SETTINGS_FIELDS if name in proposed and proposed[name] != current[name]}


def label_usage(*, project: Project, labels: list[str]) -> dict[str, dict]:
    """For each label: live answers, reviews, gold faces and imported reference labels that use it."""
    if not labels:
        return {}
    usage = {label: {"answers": 0, "reviews": 0, "gold": 0, "reference": 0} for label in labels}
    live = (Annotation.objects.filter(project=project, label__in=labels, replaced_by__isnull=True)
            .values("label").annotate(n=Count("id")))
    for row in live:
        usage[row["label"]]["answers"] = row["n"]
    for row in Review.objects.filter(item__project=project, label__in=labels).values("label").annotate(n=Count("id")):
        usage[row["label"]]["reviews"] = row["n"]
    for row in (Item.objects.filter(project=project, is_gold=True, gold_label__in=labels)
                .values("gold_label").annotate(n=Count("id"))):
        usage[row["gold_label"]]["gold"] = row["n"]
    for row in Item.objects.filter(project=project, reference_label__in=labels).values("reference_label").annotate(n=Count("id")):
        usage[row["reference_label"]]["reference"] = row["n"]
    return usage


def _uses(counts: dict) -> str:
    names = {"answers": ("answer", "answers"), "reviews": ("review", "reviews"), "gold": ("gold face", "gold faces"),
             "reference": ("imported reference label", "imported reference labels")}
    parts = [f"{n} {names[k][0] if n == 1 else names[k][1]}" for k, n in counts.items() if n]
    return ", ".join(parts)


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _effect(field: str, level: str, message: str, **figures) -> dict:
    return {"field": field, "level": level, "message": message, "figures": figures}


def _labels_effects(*, project: Project, before: list[str], after: list[str]) -> list[dict]:
    removed = [x for x in before if x not in after]
    added = [x for x in after if x not in before]
    renamed = {before[i]: after[i] for i in range(min(len(before), len(after)))
               if before[i] in removed and after[i] in added}
    usage = label_usage(project=project, labels=removed)
    effects = []
    for label in removed:
        counts = usage[label]
        verb = f"renamed to {renamed[label]!r}" if label in renamed else "removed"
        if any(counts.values()):
            effects.append(_effect(
                "labels", "blocked",
                f"{label!r} cannot be {verb}: it is used by {_uses(counts)}. Answers are kept as given, and the quality "
                "analysis reads only answers whose label is in the label set, so they would silently drop out of "
                "every later run. Keep the label; to stop annotators choosing it, say so in the instructions.",
                label=label, renamed_to=renamed.get(label), **counts,
            ))
        elif label in renamed:
            effects.append(_effect("labels", "info", f"{label!r} is renamed to {renamed[label]!r}; no answer uses it yet.",
                                   label=label, renamed_to=renamed[label]))
        else:
            effects.append(_effect("labels", "info", f"{label!r} is removed; no answer uses it.", label=label))
    versions = DatasetVersion.objects.filter(project=project).count() if added and not before else 0
    if versions:
        effects.append(_effect(
            "labels", "blocked",
            f"This project asks no expression class and has {_plural(versions, 'frozen version')}, whose faces carry no "
            "class: adding one would make them read as faces with an empty label. Start a new project for the class.",
            versions=versions,
        ))
    answered = Annotation.objects.filter(project=project).values("item_id").distinct().count()
    for label in added:
        if label in renamed.values():
            continue
        note = f" The {_plural(answered, 'face')} answered so far were never offered it." if answered else ""
        effects.append(_effect("labels", "info", f"New answer {label!r}.{note}", label=label, faces_answered=answered))
    moved = [(x, before.index(x), after.index(x)) for x in after if x in before and before.index(x) != after.index(x)]
    keyed = [(x, LABEL_KEYS[a] if a < len(LABEL_KEYS) else "none", LABEL_KEYS[b] if b < len(LABEL_KEYS) else "none")
             for x, a, b in moved if min(a, b) < len(LABEL_KEYS)]
    if keyed:
        changes = ", ".join(f"{x} {a} → {b}" for x, a, b in keyed)
        effects.append(_effect("labels", "warn", f"Annotators' keys change ({changes}): tell them, or keep the order.",
                               keys={x: [a, b] for x, a, b in keyed}))
    return effects


def _flags_effects(*, project: Project, before: list[str], after: list[str]) -> list[dict]:
    removed = [x for x in before if x not in after]
    added = [x for x in after if x not in before]
    counts = dict.fromkeys(removed, 0)
    if removed:
        # Few answers carry flags (an index covers them); counted here rather than with a JSON lookup SQLite lacks.
        for flags in Annotation.objects.filter(project=project, replaced_by__isnull=True).exclude(flags=[]).values_list("flags", flat=True):
            for flag in flags:
                if flag in counts:
                    counts[flag] += 1
    effects = [_effect("flags", "warn" if counts[f] else "info",
                       f"Flag {f!r} is no longer offered; the {_plural(counts[f], 'answer')} that carry it keep it."
                       if counts[f] else f"Flag {f!r} is no longer offered; no answer carries it.", flag=f, answers=counts[f])
               for f in removed]
    answers = Annotation.objects.filter(project=project).count() if added else 0
    effects += [_effect("flags", "info", f"New flag {f!r}" + (f": the {_plural(answers, 'answer')} given so far were not asked about it." if answers else "."),
                        flag=f, answers=answers) for f in added]
    return effects


def _overlap_effects(*, project: Project, before: int, after: int) -> list[dict]:
    items = Item.objects.filter(project=project, excluded=False)
    old_target, new_target = F("extra_answers") + Value(before), F("extra_answers") + Value(after)
    if after < before:
        counts = items.aggregate(
            over=Count("id", filter=Q(answer_count__gt=new_target)),
            completed=Count("id", filter=Q(answer_count__gte=new_target, answer_count__lt=old_target)),
        )
        leases = Assignment.objects.filter(
            project=project, status=AssignmentStatus.OPEN, is_gold=False, expires_at__gt=timezone.now(),
            item__excluded=False, item__answer_count__gte=F("item__extra_answers") + Value(after),
        ).count()
        parts = [f"k goes down from {before} to {after}."]
        if counts["over"]:
            parts.append(f"{_plural(counts['over'], 'face')} already {'has' if counts['over'] == 1 else 'have'} more "
                         f"than {after} answers: every answer stays and counts in quality runs and new dataset versions "
                         "(nothing is deleted).")
        if counts["completed"]:
            one = counts["completed"] == 1
            parts.append(f"{_plural(counts['completed'], 'more face')} now {'has' if one else 'have'} "
                         f"all the answers wanted and {'gets' if one else 'get'} no more work.")
        if leases:
            parts.append(f"{_plural(leases, 'answer')} being given right now on those faces will still be accepted.")
        if not (counts["over"] or counts["completed"]):
            parts.append("No face has more answers than that yet.")
        parts.append("Frozen dataset versions do not change.")
        return [_effect("overlap_target", "warn" if counts["over"] or counts["completed"] else "info", " ".join(parts),
                        faces_over=counts["over"], faces_completed=counts["completed"], open_leases=leases)]
    counts = items.aggregate(
        reopened=Count("id", filter=Q(answer_count__gte=old_target, answer_count__lt=new_target)),
        wanted_before=Coalesce(Sum(Greatest(old_target - F("answer_count"), Value(0))), 0),
        wanted_after=Coalesce(Sum(Greatest(new_target - F("answer_count"), Value(0))), 0),
    )
    more = counts["wanted_after"] - counts["wanted_before"]
    if not more:
        message = f"k goes up from {before} to {after}; the project has no faces to label yet."
    else:
        reopened = counts["reopened"]
        message = f"k goes up from {before} to {after}: " + (
            f"{_plural(reopened, 'face')} that had all {'its' if reopened == 1 else 'their'} answers "
            f"{'gets' if reopened == 1 else 'get'} work again; " if reopened else "") + f"{_plural(more, 'more answer')} wanted in all."
    return [_effect("overlap_target", "warn" if counts["reopened"] else "info", message,
                    faces_reopened=counts["reopened"], answers_wanted_more=more)]


def _gold_effects(*, project: Project, before: float, after: float) -> list[dict]:
    gold = Item.objects.filter(project=project, is_gold=True, excluded=False).count()
    share = f"{after * 100:g}%"
    if after == 0:
        return [_effect("gold_rate", "info", f"Gold checks stop (were {before * 100:g}% of served faces); answers to "
                        "gold faces so far still count toward annotators' gold accuracy.", gold_faces=gold)]
    if gold == 0:
        return [_effect("gold_rate", "warn", f"Gold checks at {share} of served faces, but the project has no gold faces "
                        "yet: no check is served until faces are marked gold.", gold_faces=0)]
    return [_effect("gold_rate", "info", f"About {share} of served faces are gold checks (was {before * 100:g}%). The project "
                    f"has {_plural(gold, 'gold face')}; each annotator sees each at most once, and gold checks come on top "
                    "of k.", gold_faces=gold)]


def _toggle_effects(*, project: Project, field: str, after: bool) -> list[dict]:
    if field == "show_model_hints":
        predicted = Prediction.objects.filter(item__project=project).values("item_id").distinct().count()
        items = Item.objects.filter(project=project).count()
        if after:
            return [_effect(field, "warn", f"Annotators see the model's suggestion ({predicted} of {items} faces have "
                            "one). Answers given with a hint tend to follow it, so agreement with the model reads higher "
                            "from now on.", faces_predicted=predicted, faces=items)]
        return [_effect(field, "info", "Annotators no longer see the model's suggestion.", faces_predicted=predicted)]
    with_va = Annotation.objects.filter(project=project, valence__isnull=False).count()
    answers = Annotation.objects.filter(project=project).count()
    if after:
        return [_effect(field, "info", "Annotators are asked for valence and arousal (optional) from now on"
                        + (f"; the {_plural(answers, 'answer')} given so far have none." if answers else "."),
                        answers=answers)]
    return [_effect(field, "info", "Valence and arousal are no longer asked"
                    + (f"; the {_plural(with_va, 'answer')} that have them keep their values." if with_va else "."),
                    answers_with_values=with_va)]


def au_title(number: int) -> str:
    """AU12 (lip corner puller)."""
    return f"AU{number} ({AU_NAMES.get(number, '?').lower()})"


def _au_answers(project: Project):
    return Annotation.objects.filter(project=project, replaced_by__isnull=True, action_units__isnull=False)


def _action_units_effects(*, project: Project, before: list[int], after: list[int]) -> list[dict]:
    removed = [n for n in before if n not in after]
    added = [n for n in after if n not in before]
    used = _au_answers(project).aggregate(**{f"au{n}": Count("id", filter=Q(action_units__has_key=str(n)))
                                             for n in removed})
    effects = []
    for n in removed:
        answers = used[f"au{n}"]
        if answers:
            effects.append(_effect(
                "action_units", "blocked",
                f"{au_title(n)} cannot be removed: {_plural(answers, 'answer judges', 'answers judge')} it. Answers are "
                "kept as given, and the quality analysis reads only the AUs the project asks for, so those judgements "
                "would silently drop out of every later run. Keep the AU in the list.",
                action_unit=n, answers=answers,
            ))
        else:
            effects.append(_effect("action_units", "info", f"{au_title(n)} is no longer asked; no answer judges it.",
                                   action_unit=n, answers=0))
    if added:
        answered = Annotation.objects.filter(project=project).values("item_id").distinct().count()
        names = ", ".join(au_title(n) for n in added)
        them = "it" if len(added) == 1 else "them"
        note = f" The {_plural(answered, 'face')} answered so far were never asked about {them}." if answered else ""
        effects.append(_effect("action_units", "info", f"Annotators are asked for {names} from now on.{note}",
                               action_units=added, faces_answered=answered))
    return effects


def _au_intensity_effects(*, project: Project, after: bool) -> list[dict]:
    """Switching intensity either way changes what a stored value means, unless no live answer holds that value."""
    clash = (lambda v: v == 1) if after else (lambda v: v > 1)
    # Only a lead's switch reads this (rarely), so the answers are scanned here rather than with JSON SQL per AU.
    answers = sum(1 for aus in _au_answers(project).values_list("action_units", flat=True).iterator()
                  if isinstance(aus, dict) and any(isinstance(v, int) and clash(v) for v in aus.values()))
    if after and answers:
        return [_effect("au_intensity", "blocked",
                        f"AU intensity cannot be switched on: {_plural(answers, 'answer marks', 'answers mark')} action "
                        "units present without an intensity (stored as 1), which would then read as intensity A (a "
                        "trace). Keep intensity off, or ask for intensity in a new project.", answers=answers)]
    if not after and answers:
        return [_effect("au_intensity", "blocked",
                        f"AU intensity cannot be switched off: {_plural(answers, 'answer gives', 'answers give')} "
                        "intensities B-E, which a presence-only project cannot hold; the quality analysis would no "
                        "longer read them. Keep intensity on.", answers=answers)]
    return [_effect("au_intensity", "info", "Annotators rate each present action unit's intensity A-E from now on."
                    if after else "Annotators mark action units present or absent only, from now on.", answers=0)]


def project_settings_impact(*, project: Project, proposed: dict) -> dict:
    """What saving `proposed` (field -> value, already validated) would change and do to work already done.

    Returns {"changes": {field: {before, after}}, "effects": [{field, level, message, figures}], "blocked": bool};
    level is info, warn (work already done is affected) or blocked (project_update refuses the change).
    """
    changes = project_settings_diff(project=project, proposed=proposed)
    effects: list[dict] = []
    for field, change in changes.items():
        before, after = change["before"], change["after"]
        if field == "labels":
            effects += _labels_effects(project=project, before=before, after=after)
        elif field == "flags":
            effects += _flags_effects(project=project, before=before, after=after)
        elif field == "overlap_target":
            effects += _overlap_effects(project=project, before=before, after=after)
        elif field == "gold_rate":
            effects += _gold_effects(project=project, before=before, after=after)
        elif field in ("show_model_hints", "valence_arousal"):
            effects += _toggle_effects(project=project, field=field, after=after)
        elif field == "action_units":
            effects += _action_units_effects(project=project, before=before, after=after)
        elif field == "au_intensity":
            effects += _au_intensity_effects(project=project, after=after)
        elif field == "instructions":
            effects.append(_effect(field, "info", "Annotators see the new instructions when they next open the labelling page."))
    return {"changes": changes, "effects": effects, "blocked": any(e["level"] == "blocked" for e in effects)}

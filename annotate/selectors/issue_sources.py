"""Where each face's current label comes from, decided once as SQL over a run's item results, and the filters built on it.

The order is the one a dataset version follows: a lead's review in force (accept or relabel) > the crowd's consensus
(the run counted at least one answer) > the imported reference label > the model's prediction alone > nothing.
"""
import re
from dataclasses import dataclass

from django.db.models import Case, CharField, F, OuterRef, Q, QuerySet, Subquery, Value, When

from annotate.exceptions import ValidationFailed
from annotate.models import Review, ReviewAction

REVIEW, CROWD, REFERENCE, MODEL, NONE = "review", "crowd", "reference", "model", "none"
SOURCES = (REVIEW, CROWD, REFERENCE, MODEL, NONE)
SOURCE_NAMES = {REVIEW: "lead review", CROWD: "crowd consensus", REFERENCE: "imported reference", MODEL: "model only", NONE: "no label"}
# Sources of faces the run counted no answer for: choosing one of them lifts the "answered faces only" default.
UNANSWERED_SOURCES = (REFERENCE, MODEL, NONE)
SETTLING = (ReviewAction.ACCEPT, ReviewAction.RELABEL)

REFERENCE_SET, REFERENCE_NONE = "set", "none"
AGREEMENTS = ("agree", "disagree")
GOLD, NOT_GOLD = "gold", "not_gold"
ANY_ANSWERS = "any"
_ANSWERS = re.compile(r"^(\d{1,3})(\+?)$")


@dataclass(frozen=True)
class Answers:
    """How many answers the run counted: exactly `n`, at least `n` (`at_least`), or any number (n is None)."""

    n: int | None = None
    at_least: bool = False

    def q(self) -> Q:
        if self.n is None:
            return Q()
        return Q(num_answers__gte=self.n) if self.at_least else Q(num_answers=self.n)


def answers_parse(value: str) -> Answers | None:
    """'' -> None (the default: answered faces, unless a label source is chosen); 'any'; '2' exactly two; '3+' three or more."""
    if value == "":
        return None
    if value == ANY_ANSWERS:
        return Answers()
    match = _ANSWERS.match(value)
    if not match:
        raise ValidationFailed("answers must be 'any', a number such as 2, or a minimum such as 3+.", code="invalid_answers")
    return Answers(n=int(match.group(1)), at_least=bool(match.group(2)))


def with_label_source(qs: QuerySet, *, annotate: bool = False) -> QuerySet:
    """Item results with `label_source` (one of SOURCES); `annotate` to read it back with
    `unreviewed_source`, the source without the review in force, else only to filter on it.

    The review in force is looked up per face through review_item_idx (item, -created_at): predictable on any table
    statistics. (A set of settled faces built once per query was tried: without fresh statistics PostgreSQL joined it
    by nested loops, 9 s on 20,000 faces.)
    """
    in_force = Review.objects.filter(item=OuterRef("item_id")).order_by("-created_at", "-id").values("action")[:1]
    qs = qs.alias(review_action=Subquery(in_force))
    source = Case(When(review_action__in=SETTLING, then=Value(REVIEW)), default=_unreviewed_source(), output_field=CharField())
    if annotate:
        return qs.annotate(label_source=source, unreviewed_source=_unreviewed_source())
    return qs.alias(label_source=source)


def _unreviewed_source() -> Case:
    """The source the face falls back to when no review settles it (a page shows it when a lead undoes one)."""
    return Case(
        When(num_answers__gt=0, then=Value(CROWD)),
        When(~Q(item__reference_label=""), then=Value(REFERENCE)),
        When(~Q(model_label=""), then=Value(MODEL)),
        default=Value(NONE), output_field=CharField(),
    )


def current_label(*, source: str, final_label: str | None, consensus_label: str, reference_label: str, model_label: str) -> str:
    """The label the face carries now, from its source."""
    return {REVIEW: final_label or "", CROWD: consensus_label, REFERENCE: reference_label, MODEL: model_label}.get(source, "")


def source_q(source: str) -> Q:
    """Faces whose label comes from `source`, on a queryset with_label_source.

    Each source but review is plain column conditions (the unreviewed source) and no settling review in force;
    the columns come first so PostgreSQL looks up the review in force (a subquery per row) only on the faces that pass them.
    """
    if source == REVIEW:
        return Q(review_action__in=SETTLING)
    # The implied conditions are exactly the unreviewed source, so what is left is "no review settles it": testing
    # label_source itself joined every face to its item (the CASE reads reference_label), 3 s at 360,000 faces.
    not_settled = Q(review_action__isnull=True) | ~Q(review_action__in=SETTLING)
    implied = {
        CROWD: Q(num_answers__gt=0),
        REFERENCE: Q(num_answers=0) & ~Q(item__reference_label=""),
        MODEL: Q(num_answers=0, item__reference_label="") & ~Q(model_label=""),
        NONE: Q(num_answers=0, item__reference_label="", model_label=""),
    }[source]
    return implied & not_settled


def reference_q(value: str) -> Q:
    """'set': any imported reference label; 'none': no reference label; a label: that reference label."""
    if value == REFERENCE_SET:
        return ~Q(item__reference_label="")
    if value == REFERENCE_NONE:
        return Q(item__reference_label="")
    return Q(item__reference_label=value)


def agreement_q(value: str) -> Q:
    """The crowd's consensus against the imported reference label, on faces with both (answers counted, a reference)."""
    both = Q(num_answers__gt=0) & ~Q(item__reference_label="")
    same = Q(consensus_label=F("item__reference_label"))
    return both & (same if value == "agree" else ~same)


def gold_q(value: str) -> Q:
    return Q(item__is_gold=value == GOLD)


def reference_votes(votes: dict | None) -> dict:
    """Imported vote counts (FER+), positive ones only; {} when none were imported."""
    return {label: int(n) for label, n in (votes or {}).items() if n}


def answer_options(*, k: int) -> list[dict]:
    """The answer-count choices of the filter bar: exactly 0 .. k-1, then k or more (k = the project's overlap target)."""
    k = max(1, k)
    return [{"value": str(n), "label": f"{n}"} for n in range(k)] + [{"value": f"{k}+", "label": f"{k} or more"}]

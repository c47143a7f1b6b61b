"""Counts over a quality run's item results that stay fast at a million faces: exact up to a cap, else estimated.

An exact count(*) of a filtered queue walks every matching result (and, for the label-source filters, looks up each
face's review): 0.5-5 s at 1,000,000 faces on two cores, on every page of the issue list. A lead deciding where to look
needs "about 480,000" as much as "481,236", so: the count is exact while it is at most EXACT_UP_TO (a capped walk
that stops there) and that walk ends within EXACT_MS, and otherwise it is estimated from a block sample of the table (PostgreSQL's TABLESAMPLE SYSTEM,
the same blocks for every filter), with its 95 % interval, which the page shows as "about N".
"""
import math
from dataclasses import dataclass

from django.db import OperationalError, connection, transaction
from django.db.models import Count, Q, QuerySet

from annotate.models import QualityItemResult, QualityRun

EXACT_UP_TO = 5_000
EXACT_MS = 100  # in a large run, the exact counts may take this long before the sample answers instead
FACETS_EXACT_UP_TO = 50_000  # the facets group every face of the queue once per filter: exact up to here
SAMPLE_ROWS = 40_000  # rows of the table (every run's) read for an estimate
_Z = 1.96  # 95 % two-sided
_TABLE = QualityItemResult._meta.db_table


@dataclass(frozen=True)
class Estimate:
    """A count: `value`, and when not `exact`, the 95 % interval [low, high] of the sample estimate."""

    value: int
    exact: bool
    low: int
    high: int

    @classmethod
    def of(cls, n: int) -> "Estimate":
        return cls(value=n, exact=True, low=n, high=n)


def run_result_count(run: QualityRun) -> int:
    """How many item results the run wrote (one per face it analysed: its summary's "items"), else counted."""
    n = (run.summary or {}).get("items")
    return int(n) if n is not None else QualityItemResult.objects.filter(run=run).count()


def count_results(qs: QuerySet, *, run: QualityRun, parts: dict[str, Q]) -> dict[str, Estimate]:
    """{name: count of qs.filter(part)}: exact while at most EXACT_UP_TO and found within EXACT_MS, else estimated.

    `qs` must hold only `run`'s item results (the estimate scales the sample's share up to the run's size).
    A part that matches few faces without an index to find them (no unanswered face in a million) walks every
    result to prove it; the time limit hands that walk to the sample instead.
    """
    large = (run.summary or {}).get("items", 0) > FACETS_EXACT_UP_TO
    exact = _capped_counts(qs, parts, limited=large)
    if all(n is not None and n <= EXACT_UP_TO for n in exact.values()):
        return {name: Estimate.of(n) for name, n in exact.items()}
    if connection.vendor != "postgresql":
        return {name: Estimate.of(qs.filter(part).count()) for name, part in parts.items()}
    percent = _sample_percent()
    population = run_result_count(run)
    sampled_parts = [name for name, n in exact.items() if n is None or n > EXACT_UP_TO]
    # The run's sampled faces and each part's hits among them, in one statement (one round trip, one plan).
    sampled, *found = _sampled_hits(qs, run=run, parts=[parts[name] for name in sampled_parts], percent=percent)
    if not sampled:
        return {name: Estimate.of(qs.filter(part).count()) for name, part in parts.items()}
    estimates = {name: Estimate.of(n) for name, n in exact.items() if name not in sampled_parts}
    for name, hits in zip(sampled_parts, found):
        low, high = _wilson(hits, sampled)
        # Past the cap at least EXACT_UP_TO + 1 faces match, whatever the sample says.
        floor = EXACT_UP_TO + 1 if exact[name] is not None else 0
        estimates[name] = Estimate(value=max(floor, round(hits / sampled * population)), exact=False,
                                   low=max(floor, math.floor(low * population)), high=max(floor, math.ceil(high * population)))
    return {name: estimates[name] for name in parts}


def _capped_counts(qs: QuerySet, parts: dict[str, Q], *, limited: bool) -> dict[str, int | None]:
    """count(*) of each part, stopped at EXACT_UP_TO + 1; when `limited` (a large run, on PostgreSQL) all of them in
    one statement given EXACT_MS, else None for every part (the walk is handed to the sample). One statement, so two
    parts that each walk the whole run (a rare filter's total and its unanswered faces) cost EXACT_MS, not twice it."""
    capped = {name: qs.filter(part).order_by().values("id")[: EXACT_UP_TO + 1] for name, part in parts.items()}
    if not limited or connection.vendor != "postgresql":
        return {name: c.count() for name, c in capped.items()}
    sql, params = _counts_sql([c.query.sql_with_params() for c in capped.values()])
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL statement_timeout = {int(EXACT_MS)}")
            cursor.execute(sql, params)
            return dict(zip(parts, cursor.fetchone()))
    except OperationalError as error:
        if type(error.__cause__).__name__ != "QueryCanceled":
            raise
        return {name: None for name in parts}


def _counts_sql(queries: list[tuple[str, tuple]]) -> tuple[str, tuple]:
    """One SELECT of count(*) of each (sql, params) query."""
    columns = ", ".join(f"(SELECT count(*) FROM ({sql}) q{i})" for i, (sql, _) in enumerate(queries))
    return f"SELECT {columns}", tuple(p for _, params in queries for p in params)


@dataclass(frozen=True)
class Sample:
    """The blocks a large run's facet counts are read from, and the factor from sampled rows to the run's rows."""

    percent: float
    scale: float

    def rows(self, qs: QuerySet) -> list[tuple]:
        """A values_list queryset's rows, read from the sampled blocks only (counts in them are not scaled)."""
        return _sampled_fetch(*_sampled_sql(qs, self.percent))


def run_sample(run: QualityRun) -> Sample | None:
    """A sample for counting this run's results by group, or None when the run is small enough to count exactly."""
    if connection.vendor != "postgresql":
        return None
    population = run_result_count(run)
    if population <= FACETS_EXACT_UP_TO:
        return None
    percent = _sample_percent()
    sampled = _sampled_count(QualityItemResult.objects.filter(run=run), percent)
    return Sample(percent=percent, scale=population / sampled) if sampled else None


def _sample_percent() -> float:
    """The share of the table's blocks that holds about SAMPLE_ROWS rows (the planner's row count of the table)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [_TABLE])
        rows = cursor.fetchone()[0] or 0
    return 100.0 if rows <= SAMPLE_ROWS else max(0.01, 100.0 * SAMPLE_ROWS / rows)


def _sampled_sql(qs: QuerySet, percent: float) -> tuple[str, tuple]:
    """The queryset's SQL reading only the sampled blocks of the item results table (REPEATABLE: every query sees
    the same sample)."""
    sql, params = qs.query.sql_with_params()
    table = f'FROM "{_TABLE}"'
    if table not in sql:
        raise ValueError("the queryset does not read the item results table")
    return sql.replace(table, f"{table} TABLESAMPLE SYSTEM ({float(percent):.6f}) REPEATABLE (20)", 1), params


def _sampled_count(qs: QuerySet, percent: float) -> int:
    """count(*) of the queryset over the sampled blocks."""
    sql, params = _sampled_sql(qs.order_by().values("id"), percent)
    return _sampled_fetch(f"SELECT count(*) FROM ({sql}) sampled", params)[0][0]


def _sampled_hits(qs: QuerySet, *, run: QualityRun, parts: list[Q], percent: float) -> list[int]:
    """[the run's sampled faces, then each part's hits among them], in one statement that reads the sample twice:
    once for the run, once for `qs` with every part counted in the same pass."""
    population, pop_params = _sampled_sql(QualityItemResult.objects.filter(run=run).order_by().values("id"), percent)
    counts = {f"hits_{i}": Count("id", filter=part) if part else Count("id") for i, part in enumerate(parts)}
    hits, hit_params = _sampled_sql(qs.order_by().values("run").annotate(**counts).values_list(*counts), percent)
    sql = f"SELECT p.n, h.* FROM (SELECT count(*) AS n FROM ({population}) q) p LEFT JOIN ({hits}) h ON true"
    return [n or 0 for n in _sampled_fetch(sql, (*pop_params, *hit_params))[0]]


def _sampled_fetch(sql: str, params) -> list[tuple]:
    """Rows of a query over the sampled blocks, each of their few thousand faces joined by index lookups: PostgreSQL
    otherwise hashed the whole item table for them (a million rows read to join 13,000; 900 ms against 250 ms)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
        cursor.execute(sql, params)
        return cursor.fetchall()


def _wilson(hits: int, n: int) -> tuple[float, float]:
    """Wilson's 95 % interval of a proportion hits / n."""
    p = hits / n
    centre = (p + _Z * _Z / (2 * n)) / (1 + _Z * _Z / n)
    half = _Z * math.sqrt(p * (1 - p) / n + _Z * _Z / (4 * n * n)) / (1 + _Z * _Z / n)
    return max(0.0, centre - half), min(1.0, centre + half)

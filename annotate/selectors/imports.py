"""Reads of a project's imports: their jobs with the report's counts, and the report's lists page by page."""
from django.db.models import IntegerField, QuerySet, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce

from annotate.models import Item, Job, JobKind

REPORT_LISTS = ("skipped", "duplicates", "near_duplicates")
# The report's counters, as Job.result names them; read in the database so a list of imports never loads the lists.
COUNTS = {
    "seen": "seen", "imported": "imported", "updated": "updated", "answers": "answers", "gold": "gold",
    "skipped": "skipped_count", "duplicates": "duplicate_count", "near_duplicates": "near_duplicate_count",
}


def imports_for_project(*, project_id: int) -> QuerySet[Job]:
    """The project's import jobs, newest first, each with `count_<name>` for the report's counters (0 before it ran)."""
    counts = {f"count_{name}": Coalesce(Cast(KT(f"result__{key}"), IntegerField()), Value(0)) for name, key in COUNTS.items()}
    return (
        Job.objects.filter(project_id=project_id, kind=JobKind.IMPORT)
        .select_related("created_by", "cancelled_by")
        .defer("result")
        .annotate(**counts)
        .order_by("-created_at", "-id")
    )


def import_report_counts(*, job: Job) -> dict:
    """The counters of one import's report; 0 where the import has not counted yet."""
    result = job.result or {}
    return {name: int(result.get(key) or 0) for name, key in COUNTS.items()}


def import_skip_reasons(*, job: Job) -> list[dict]:
    """How many listed skips each reason code has, most frequent first."""
    reasons: dict[str, int] = {}
    for entry in (job.result or {}).get("skipped", []):
        reasons[entry.get("code", "")] = reasons.get(entry.get("code", ""), 0) + 1
    return [{"code": code, "count": n} for code, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))]


def import_report_entries(*, job: Job, name: str, offset: int = 0, limit: int = 50, code: str = "") -> dict:
    """One page of a report list (`skipped`, `duplicates`, `near_duplicates`); near duplicates carry both faces' state.

    `listed` is how many entries the report kept (it keeps REPORT_LIST_CAP per list), `total` how many it counted.
    """
    result = job.result or {}
    entries = result.get(name, [])
    if code:
        entries = [e for e in entries if e.get("code") == code]
    page = [dict(e) for e in entries[offset:offset + limit]]
    if name == "near_duplicates" and page:
        faces = item_faces(item_ids={e["item"] for e in page} | {e["similar_item"] for e in page})
        for entry in page:
            entry["face"], entry["similar_face"] = faces.get(entry["item"]), faces.get(entry["similar_item"])
    if name == "duplicates" and page:
        faces = item_faces(item_ids={e["item"] for e in page if e.get("item")})
        for entry in page:
            entry["face"] = faces.get(entry.get("item"))
    total = {"skipped": "skipped_count", "duplicates": "duplicate_count", "near_duplicates": "near_duplicate_count"}[name]
    return {
        "list": name, "offset": offset, "limit": limit, "code": code, "count": len(entries),
        "listed": len(result.get(name, [])), "total": int(result.get(total) or 0), "results": page,
    }


def item_faces(*, item_ids: set[int]) -> dict[int, dict]:
    """What a report row shows of each face: its image link, split, reference and gold labels, and whether it is
    excluded or erased (a face a cancelled import removed is missing from the answer)."""
    rows = Item.objects.filter(pk__in=item_ids).values(
        "id", "split", "reference_label", "is_gold", "gold_label", "excluded", "erased_at", "source", "import_job_id",
    )
    return {
        row["id"]: {
            "id": row["id"], "split": row["split"], "reference_label": row["reference_label"], "is_gold": row["is_gold"],
            "gold_label": row["gold_label"], "excluded": row["excluded"], "erased": row["erased_at"] is not None,
            "source": row["source"], "import_job": row["import_job_id"],
            "image": None if row["erased_at"] else f"/api/items/{row['id']}/image",
        }
        for row in rows
    }


def near_duplicate_entry(*, job: Job, item_id: int) -> dict | None:
    """The report's near-duplicate entry for a face this import stored, or None."""
    return next((e for e in (job.result or {}).get("near_duplicates", []) if e.get("item") == item_id), None)

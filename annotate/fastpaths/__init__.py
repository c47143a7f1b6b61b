"""Hand-written PostgreSQL fast paths, each beside its ORM twin (the portable code SQLite runs).

Every path here does the same thing twice: once in SQL written for PostgreSQL, where it runs on the
hot path, and once through the ORM, which SQLite runs and which states what the SQL must do.
tests/annotate/test_fastpaths.py runs both on the same data on PostgreSQL and compares the results.
Status values reach the SQL as query parameters taken from the models' choices, never as literals.

Path (module): fast path on PostgreSQL / its ORM twin / the caller that picks between them
- lease (lease): lease_postgres / lease_orm / services.assignments._lease_new
- submit (submit): submit_rules_postgres + answer_store_postgres / answer_store_orm (inside the
  general path, services.annotations._submit) / services.annotations.annotation_submit
- activity (activity): activity_postgres / activity_orm / selectors.stats.annotator_activity
- priorities (priorities): priorities_write_postgres / priorities_write_orm / services.quality._priorities_write
- child rows (child_rows): child_rows_insert_postgres / child_rows_insert_orm / a quality run's item
  results (services.quality._item_results_insert) and a dataset version's entries (services.versions._entries_insert)
- annotator results (annotator_results): annotator_results_json_postgres / annotator_results_json_orm /
  selectors.quality.quality_annotator_results_json (the quality-run annotators API's body; compared in
  tests/annotate/test_annotator_results_json.py)
- members (members): members_json_postgres / members_json_orm / selectors.people.member_list_json (the members
  API's rows; compared in tests/annotate/test_members_json.py)
- quality columns (quality_columns): item_columns_postgres, answer_columns_postgres, prediction_columns_postgres
  (binary COPY into numpy) / their `*_orm` twins / services.quality_inputs (a run's items, answers, predictions)

Each caller picks between the two with ``enabled()``, the one place that chooses the fast paths.
(The per-request session-user and membership lookups, server.auth and annotate.access over
server.rows, are hand-written too, but as portable SQL that every backend runs; they have no twin
and tests/annotate/test_rows.py compares them with the ORM.)
"""
from django.db import connection


def enabled() -> bool:
    """Whether the fast paths run instead of their ORM twins: on PostgreSQL, which they are written for."""
    return connection.vendor == "postgresql"

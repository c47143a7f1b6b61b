"""A project's member rows as the members API's JSON, written by PostgreSQL; twin: `members_json_orm`.

At 10,000 members, fetching each row's two timestamps into Python datetimes and encoding them back was most of the
request. Here PostgreSQL writes the rows (MemberRowOutput), timestamps in the encoder's ISO form, in the twin's
order; the answers come in as one JSON parameter (annotate.selectors.activity_snapshot computes them).
"""
import json

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from annotate.models import Assignment, AssignmentStatus, Membership, Project, Role


def _iso(column: str) -> str:
    """A timestamptz as rest_framework's encoder writes a UTC datetime: microseconds only when there are any, 'Z'."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN extract(microseconds FROM {column})::bigint"
            f" %% 1000000 <> 0 THEN to_char({utc}, '.US') ELSE '' END || 'Z'")


_USER, _GROUPS = get_user_model()._meta.db_table, get_user_model().groups.through._meta.db_table
_SQL = (
    "SELECT coalesce(json_agg(t.body ORDER BY t.not_lead, t.name, t.user_id), '[]')::text FROM ("
    " SELECT m.role <> %(lead)s AS not_lead, lower(u.username) COLLATE \"C\" AS name, m.user_id,"
    "  (SELECT row_to_json(x) FROM (SELECT"
    "   (SELECT row_to_json(y) FROM (SELECT m.user_id, u.username, m.role, m.paused, m.excluded_from_consensus,"
    f"    m.message, {_iso('m.created_at')} AS joined) y) AS member,"
    "   coalesce((%(answers)s::jsonb ->> m.user_id::text)::bigint, 0) AS answers, coalesce(l.n, 0) AS open_leases,"
    f"   EXISTS (SELECT 1 FROM {_GROUPS} ug JOIN {Group._meta.db_table} g ON g.id = ug.group_id"
    "    WHERE ug.user_id = m.user_id AND g.name = %(group)s) AS must_set_password,"
    f"   {_iso('u.last_login')} AS last_login) x) AS body"
    f" FROM {Membership._meta.db_table} m JOIN {_USER} u ON u.id = m.user_id"
    f" LEFT JOIN (SELECT annotator_id, count(*) AS n FROM {Assignment._meta.db_table}"
    "  WHERE project_id = %(project)s AND annotator_id = ANY(%(ids)s) AND status = %(open)s AND expires_at > %(now)s"
    "  GROUP BY annotator_id) l ON l.annotator_id = m.user_id"
    " WHERE m.project_id = %(project)s AND m.user_id = ANY(%(ids)s)) t"
)


def members_json_postgres(*, project: Project, user_ids: list[int], answers: dict[int, int], group: str) -> str:
    """The rows of the members `user_ids` (one page, chosen by selectors.people.member_page_ids), in the tab's order."""
    params = {"ids": list(user_ids), "lead": Role.LEAD.value, "answers": json.dumps({str(a): n for a, n in answers.items()}),
              "group": group, "project": project.pk, "open": AssignmentStatus.OPEN.value, "now": timezone.now()}
    with connection.cursor() as cursor:
        cursor.execute(_SQL, params)
        return cursor.fetchone()[0]


def members_json_orm(*, rows: list[dict]) -> str:
    """selectors.people.member_list's rows as the API's renderer encodes them."""
    return json.dumps(rows, cls=JSONEncoder)

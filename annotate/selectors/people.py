"""Reads for the People tab: a project's members with their answers and leases, and its invitations."""
import hashlib
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Case, Count, F, Q, Value, When
from django.db.models.functions import Collate, Lower
from django.utils import timezone

from annotate import fastpaths
from annotate.fastpaths.members import members_json_orm, members_json_postgres
from annotate.models import Assignment, AssignmentStatus, Invitation, Membership, Project, Role
from annotate.selectors.activity_snapshot import activity_since_run, answering_annotator_ids
from annotate.selectors.quality import quality_run_latest

# Invitation states, as the People tab and the accept page name them.
PENDING, EXPIRED, REVOKED, USED_UP = "pending", "expired", "revoked", "used_up"
# Accounts whose owner must still choose a password (see annotate.services.accounts for why a group).
FIRST_SIGN_IN_GROUP = "ferlab: must set a password"


def user_must_set_password(user) -> bool:
    return user.is_authenticated and user.groups.filter(name=FIRST_SIGN_IN_GROUP).exists()


def members_must_set_password(*, project: Project) -> set[int]:
    """The project's members whose account still waits for its first password (a subquery, not 10,000 ids sent)."""
    members = Membership.objects.filter(project=project).values("user_id")
    waiting = get_user_model().objects.filter(pk__in=members, groups__name=FIRST_SIGN_IN_GROUP)
    return set(waiting.values_list("pk", flat=True))


def invitation_token_hash(token: str) -> str:
    """Only a token's sha256 is stored; the token itself is shown once, in the link."""
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_state(invitation: Invitation, *, now=None) -> str:
    """pending, or why the link no longer works (revoked wins over used up, which wins over expired)."""
    now = now or timezone.now()
    if invitation.revoked_at is not None:
        return REVOKED
    if invitation.uses >= invitation.max_uses:
        return USED_UP
    if invitation.expires_at <= now:
        return EXPIRED
    return PENDING


def invitation_by_token(*, token: str) -> Invitation | None:
    """The invitation a link's token stands for (with its project), or None for an unknown token."""
    if not token or len(token) > 200:
        return None
    return Invitation.objects.select_related("project", "created_by").filter(token_hash=invitation_token_hash(token)).first()


def invitation_list(*, project: Project) -> list[dict]:
    """The project's invitations, newest first, each with its state; pending ones first."""
    now = timezone.now()
    rows = [{"invitation": i, "state": invitation_state(i, now=now)}
            for i in Invitation.objects.filter(project=project).select_related("created_by").order_by("-created_at", "-id")]
    return sorted(rows, key=lambda r: r["state"] != PENDING)


_MEMBER_FIELDS = ("user_id", "role", "paused", "excluded_from_consensus", "message")


@dataclass(frozen=True)
class MemberPage:
    """Which members a page of the People tab shows: `search` in the username (any case), `limit` from `offset`."""
    search: str = ""
    offset: int = 0
    limit: int | None = None  # None: all


def _members(project: Project, page: MemberPage):
    members = Membership.objects.filter(project=project)
    return members.filter(user__username__icontains=page.search) if page.search else members


def member_page_ids(*, project: Project, page: MemberPage) -> list[int]:
    """The page's members in the tab's order: leads first, then by name (case-blind, by code point), then id."""
    code_points = "C" if connection.vendor == "postgresql" else "BINARY"
    ordered = (_members(project, page).annotate(name=Collate(Lower("user__username"), code_points))
               .order_by(Case(When(role=Role.LEAD, then=Value(0)), default=Value(1)), "name", "user_id"))
    ids = ordered.values_list("user_id", flat=True)
    return list(ids[page.offset:] if page.limit is None else ids[page.offset:page.offset + page.limit])


def member_counts(*, project: Project, page: MemberPage) -> dict:
    """{matching: members the search keeps, members: all, leads: all leads} in one query."""
    return Membership.objects.filter(project=project).aggregate(
        matching=Count("id", filter=Q(user__username__icontains=page.search)) if page.search else Count("id"),
        members=Count("id"), leads=Count("id", filter=Q(role=Role.LEAD)))


def member_list(*, project: Project, page: MemberPage = MemberPage()) -> list[dict]:
    """The page's members (leads first, then by name) with their answers (originals, corrections not counted
    twice) and open leases, as plain rows in the API's shape (MemberRowOutput); a few queries whatever the team's size.

    Values rows, not Membership and User instances passed through a serializer: at 10,000 members building and
    serialising those took seconds.
    """
    ids = member_page_ids(project=project, page=page)
    position = {user_id: i for i, user_id in enumerate(ids)}
    memberships = list(Membership.objects.filter(project=project, user_id__in=ids).values(
        *_MEMBER_FIELDS, joined=F("created_at"), username=F("user__username"), last_login=F("user__last_login")))
    memberships.sort(key=lambda m: position[m["user_id"]])
    # Originals = live answers (each correction replaces one): the latest run's snapshot plus who answered since,
    # not a count over every answer of the project (seconds at ten million).
    answers = _page_answers(project, ids)
    # The page's live leases by annotator (assignment_project_live_idx); a former member's are not looked up.
    leases = dict(
        Assignment.objects.filter(project=project, annotator_id__in=ids, status=AssignmentStatus.OPEN, expires_at__gt=timezone.now())
        .values("annotator_id").annotate(n=Count("id")).values_list("annotator_id", "n")
    )
    must_set = members_must_set_password(project=project)
    member_keys = ("user_id", "username", "role", "paused", "excluded_from_consensus", "message", "joined")  # MemberOutput
    return [{"member": {k: m[k] for k in member_keys}, "answers": answers.get(m["user_id"], 0),
             "open_leases": leases.get(m["user_id"], 0), "must_set_password": m["user_id"] in must_set,
             "last_login": m["last_login"]} for m in memberships]


def member_list_json(*, project: Project, page: MemberPage = MemberPage()) -> str:
    """member_list's rows as the members API's JSON; written by PostgreSQL there (annotate.fastpaths.members).

    The page's members are chosen first and only theirs are built: the whole list of 10,000 took 316 ms (#20)."""
    if not fastpaths.enabled():
        return members_json_orm(rows=member_list(project=project, page=page))
    ids = member_page_ids(project=project, page=page)
    return members_json_postgres(project=project, user_ids=ids, answers=_page_answers(project, ids), group=FIRST_SIGN_IN_GROUP)


def _page_answers(project: Project, ids: list[int]) -> dict[int, int]:
    activity = activity_since_run(project=project, run=_latest_run(project), only=set(ids))
    return {a: f["answers"] for a, f in activity.items()}


def former_members_with_answers(*, project: Project) -> int:
    """People whose answers the project keeps though they are no longer members (removed: answers stay)."""
    members = set(Membership.objects.filter(project=project).values_list("user_id", flat=True))
    return len(answering_annotator_ids(project=project, run=_latest_run(project)) - members)


def _latest_run(project: Project):
    """The project's latest quality run, read once per request (its summary holds 10,000 annotators' figures)."""
    if not hasattr(project, "_latest_quality_run"):
        project._latest_quality_run = quality_run_latest(project_id=project.pk)
    return project._latest_quality_run

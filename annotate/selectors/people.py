"""Reads for the People tab: a project's members with their answers and leases, and its invitations."""
import hashlib

from django.contrib.auth import get_user_model
from django.db.models import Count, F
from django.utils import timezone

from annotate import fastpaths
from annotate.fastpaths.members import members_json_orm, members_json_postgres
from annotate.models import Assignment, AssignmentStatus, Invitation, Membership, Project, Role
from annotate.selectors.activity_snapshot import activity_since_run
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


def member_list(*, project: Project) -> list[dict]:
    """The project's members (leads first, then by name) with their answers (originals, corrections not counted
    twice) and open leases, as plain rows in the API's shape (MemberRowOutput); four queries whatever the team's size.

    Values rows, not Membership and User instances passed through a serializer: at 10,000 members building and
    serialising those took seconds.
    """
    memberships = list(Membership.objects.filter(project=project).order_by("user_id").values(
        *_MEMBER_FIELDS, joined=F("created_at"), username=F("user__username"), last_login=F("user__last_login")))
    memberships.sort(key=lambda m: (m["role"] != Role.LEAD, m["username"].lower()))
    # Originals = live answers (each correction replaces one): the latest run's snapshot plus who answered since,
    # not a count over every answer of the project (seconds at ten million).
    answers = {a: f["answers"] for a, f in _activity(project).items()}
    # The project's live leases by annotator (assignment_project_live_idx); a former member's are not looked up.
    leases = dict(
        Assignment.objects.filter(project=project, status=AssignmentStatus.OPEN, expires_at__gt=timezone.now())
        .values("annotator_id").annotate(n=Count("id")).values_list("annotator_id", "n")
    )
    must_set = members_must_set_password(project=project)
    member_keys = ("user_id", "username", "role", "paused", "excluded_from_consensus", "message", "joined")  # MemberOutput
    return [{"member": {k: m[k] for k in member_keys}, "answers": answers.get(m["user_id"], 0),
             "open_leases": leases.get(m["user_id"], 0), "must_set_password": m["user_id"] in must_set,
             "last_login": m["last_login"]} for m in memberships]


def member_list_json(*, project: Project) -> str:
    """member_list's rows as the members API's JSON; written by PostgreSQL there (annotate.fastpaths.members)."""
    if not fastpaths.enabled():
        return members_json_orm(rows=member_list(project=project))
    answers = {a: f["answers"] for a, f in _activity(project).items()}
    return members_json_postgres(project=project, answers=answers, group=FIRST_SIGN_IN_GROUP)


def former_members_with_answers(*, project: Project) -> int:
    """People whose answers the project keeps though they are no longer members (removed: answers stay)."""
    members = set(Membership.objects.filter(project=project).values_list("user_id", flat=True))
    return len(set(_activity(project)) - members)


def _activity(project: Project) -> dict[int, dict]:
    """Every answering annotator's activity (annotate.selectors.activity_snapshot), computed once per request."""
    cached = getattr(project, "_activity_since_run", None)
    if cached is None:
        cached = project._activity_since_run = activity_since_run(project=project, run=quality_run_latest(project_id=project.pk))
    return cached

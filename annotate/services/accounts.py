"""Accounts a lead creates (a one-time password, shown once) and the password their owner must then set.

"Must set a password" is kept without a schema change as membership of one auth group,
FIRST_SIGN_IN_GROUP: a durable, per-account flag in tables Django already has (unlike `last_login is None`,
which every account made by `createsuperuser`, the demo or a fixture shares, and which the first sign-in
itself clears). The sign-in view checks it once and marks the session; `server.password_gate` then sends
that session to the set-password page until the owner has chosen a password, which clears the flag.
"""
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import transaction

from annotate.exceptions import Conflict, ValidationFailed
from annotate.models import Project, Role
from annotate.selectors.people import FIRST_SIGN_IN_GROUP
from annotate.services.audit_log import audit_record
from annotate.services.members import member_add

# No 0/O, 1/l/I: the lead reads the password out or copies it into a message.
_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def username_check(username: str) -> str:
    """The username, stripped, if it is a valid and free one; ValidationFailed / Conflict otherwise."""
    username = (username or "").strip()
    if not username:
        raise ValidationFailed("Give a username.", code="invalid_username")
    max_length = get_user_model()._meta.get_field("username").max_length
    if len(username) > max_length:
        raise ValidationFailed(f"Keep the username under {max_length} characters.", code="invalid_username")
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError:
        raise ValidationFailed("Use letters, digits and @ . + - _ only in a username.", code="invalid_username") from None
    if get_user_model().objects.filter(username__iexact=username).exists():
        raise Conflict(f"The username {username!r} is taken: choose another (an existing person can be invited instead).",
                       code="username_taken")
    return username


def password_check(password: str, *, username: str) -> None:
    """Django's password validators (length, common passwords, similar to the username), as one error."""
    try:
        validate_password(password, user=get_user_model()(username=username))
    except ValidationError as error:
        raise ValidationFailed(" ".join(error.messages), code="weak_password", details={"password": error.messages}) from None


def _one_time_password() -> str:
    groups = ["".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(4)]
    return "-".join(groups)


@transaction.atomic
def account_create(*, project: Project, actor, username: str, role: str = Role.ANNOTATOR) -> tuple[object, str]:
    """Create an account and make it a member of the project; (user, one-time password). The password is
    returned once and stored only hashed; its owner must set their own at first sign-in."""
    username = username_check(username)
    password = _one_time_password()
    user = get_user_model().objects.create_user(username=username, password=password)
    user.groups.add(Group.objects.get_or_create(name=FIRST_SIGN_IN_GROUP)[0])
    audit_record(project=project, actor=actor, action="account.created", target=f"user:{user.pk}",
                 details={"username": username, "role": role, "via": "lead", "must_set_password": True})
    member_add(project=project, user=user, role=role, actor=actor, via="account")
    return user, password


@transaction.atomic
def password_set_own(*, user, password: str) -> None:
    """The owner chooses their password (validated); the first-sign-in flag goes."""
    if user.check_password(password):
        raise ValidationFailed("Choose a new password, not the one you were given.", code="same_password")
    password_check(password, username=user.get_username())
    user.set_password(password)
    user.save(update_fields=["password"])
    user.groups.remove(*Group.objects.filter(name=FIRST_SIGN_IN_GROUP))

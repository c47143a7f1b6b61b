"""API tokens: made by their owner with an optional expiry, shown once, stored as a sha256, revoked by their owner,
and void once the owner's password changes or the account is deactivated."""
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from annotate.exceptions import NotFound, ValidationFailed
from annotate.models import ApiToken
from annotate.selectors.tokens import token_key_hash
from annotate.services.audit_log import audit_record

KEY_PREFIX = "ferlab_"
NAME_MAX = 100
EXPIRY_DAYS_MAX = 3650
TOKENS_PER_USER_MAX = 50


@transaction.atomic
def api_token_create(*, user, name: str, expires_in_days: int | None = None) -> tuple[ApiToken, str]:
    """A new token for `user` and its key; the key is returned once and never stored."""
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed(f"Give the token a name of 1 to {NAME_MAX} characters.", code="invalid_token_name")
    if expires_in_days is not None and not 1 <= expires_in_days <= EXPIRY_DAYS_MAX:
        raise ValidationFailed(f"The expiry must lie between 1 and {EXPIRY_DAYS_MAX} days, or be empty.",
                               code="invalid_token_expiry")
    if ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() >= TOKENS_PER_USER_MAX:
        raise ValidationFailed(f"At most {TOKENS_PER_USER_MAX} live tokens per account: revoke one first.",
                               code="too_many_tokens")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, key_prefix=key[: len(KEY_PREFIX) + 4], key_hash=token_key_hash(key),
        auth_hash=user.get_session_auth_hash(),
        expires_at=timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    audit_record(project=None, actor=user, action="token.created", target=f"token:{token.pk}",
                 details={"name": name, "expires_at": token.expires_at.isoformat() if token.expires_at else None})
    return token, key


@transaction.atomic
def api_token_revoke(*, user, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens (another user's is not found); revoking twice changes nothing."""
    token = ApiToken.objects.select_for_update().filter(pk=token_id, user=user).first()
    if token is None:
        raise NotFound("No such token.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(project=None, actor=user, action="token.revoked", target=f"token:{token.pk}", details={"name": token.name})
    return token


def api_tokens_revoke_all(*, user, reason: str) -> int:
    """Revoke every live token of the user (a password change, a deactivation); returns how many."""
    count = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if count:
        audit_record(project=None, actor=None, action="token.revoked_all", target=f"user:{user.pk}",
                     details={"count": count, "reason": reason})
    return count


def tokens_follow_account_change(sender, instance, update_fields=None, **kwargs) -> None:
    """pre_save of the user model: a password change or a deactivation revokes the user's tokens at once, by
    whatever path it comes (the admin, `manage.py changepassword`, `set_password` in code). Django has no
    password-changed signal, so the stored hash is compared; saves that touch neither field cost nothing.
    A hash Django upgrades at sign-in (a new hasher or iteration count) also counts as a change: the tokens go,
    as the account's other sessions do; erring that way is the safe side."""
    if instance.pk is None or (update_fields is not None and not {"password", "is_active"} & set(update_fields)):
        return
    before = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if before is None:
        return
    if before["password"] != instance.password:
        api_tokens_revoke_all(user=instance, reason="password_changed")
    elif before["is_active"] and not instance.is_active:
        api_tokens_revoke_all(user=instance, reason="account_deactivated")

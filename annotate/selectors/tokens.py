"""Reads of API tokens: the live token behind a key, and a user's own tokens with their state."""
import hashlib

from django.utils import timezone

from annotate.models import ApiToken


def token_key_hash(key: str) -> str:
    """What is stored of a key: its sha256 (a key is 256 random bits, so no salt or slow hash is needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_state(token: ApiToken, *, now=None) -> str:
    """live | expired | revoked | password_changed: why a token does or does not authenticate now."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= (now or timezone.now()):
        return "expired"
    if token.auth_hash and token.auth_hash != token.user.get_session_auth_hash():
        return "password_changed"
    return "live"


def api_tokens_for_user(*, user) -> list[ApiToken]:
    return list(ApiToken.objects.filter(user=user).select_related("user").order_by("-created_at", "-id"))


def api_token_for_key_hash(key_hash: str) -> ApiToken | None:
    return ApiToken.objects.select_related("user").filter(key_hash=key_hash).first()

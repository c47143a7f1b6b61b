"""DRF authentication by FERLab's API tokens (`Authorization: Token <key>`, or `Bearer <key>`).

A refused key answers 401 with `WWW-Authenticate: Token`. A token authenticates while it is not revoked, not
expired, its user is active and the user's password is the one it was made under (Django's session auth hash,
the same check that signs sessions out after a password change). `last_used_at` is written at most once a minute.
"""
from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from annotate.models import ApiToken
from annotate.selectors.tokens import api_token_for_key_hash, api_token_state, token_key_hash

KEYWORDS = (b"token", b"bearer")
LAST_USED_EVERY = timedelta(minutes=1)


class ApiTokenAuthentication(BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Give the token as 'Authorization: Token <key>'.")
        try:
            key = parts[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        token = api_token_for_key_hash(token_key_hash(key))
        if token is None:
            raise exceptions.AuthenticationFailed("The token is not valid.")
        now = timezone.now()
        state = api_token_state(token, now=now)
        if state == "live" and not token.user.is_active:
            state = "account_inactive"
        if state != "live":
            if state in ("password_changed", "account_inactive"):
                ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
            raise exceptions.AuthenticationFailed(_REFUSALS[state])
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


_REFUSALS = {
    "revoked": "The token was revoked.",
    "expired": "The token has expired.",
    "password_changed": "The token was revoked when the account's password changed.",
    "account_inactive": "The token's account is deactivated.",
}


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes these tokens."""

    target_class = "annotate.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Token <key>`: make one on /account/tokens/ or with `manage.py api_token`."}

"""Make an API token for a user and print its key (shown once; only its hash is stored)."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotate.exceptions import ValidationFailed
from annotate.services.tokens import api_token_create


class Command(BaseCommand):
    help = "Make an API token for a user; prints the key, which is not stored and cannot be shown again."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="username")
        parser.add_argument("--name", default="command line", help="what the token is for")
        parser.add_argument("--expires-days", type=int, default=None, help="days until it expires (default: never)")

    def handle(self, *args, user, name, expires_days, **options):
        account = get_user_model().objects.filter(username=user).first()
        if account is None:
            raise CommandError(f"No user {user!r}.")
        try:
            token, key = api_token_create(user=account, name=name, expires_in_days=expires_days)
        except ValidationFailed as exc:
            raise CommandError(exc.message) from exc
        expiry = f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "never expires"
        self.stderr.write(f"token {token.pk} ({token.name}) for {user}, {expiry}")
        self.stdout.write(key)

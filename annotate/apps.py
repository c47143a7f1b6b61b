"""Django app config for annotate."""
from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import pre_save


class AnnotateConfig(AppConfig):
    name = "annotate"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "FERLab"

    def ready(self) -> None:
        from annotate.services.tokens import tokens_follow_account_change

        pre_save.connect(tokens_follow_account_change, sender=settings.AUTH_USER_MODEL,
                         dispatch_uid="annotate.tokens_follow_account_change")

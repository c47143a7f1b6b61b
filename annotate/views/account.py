"""The signed-in user's own account pages: API tokens."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_safe

from annotate.services.tokens import EXPIRY_DAYS_MAX


@require_safe
@login_required
def account_tokens(request):
    return render(request, "annotate/account_tokens.html", {"expiry_days_max": EXPIRY_DAYS_MAX})


urlpatterns = [path("account/tokens/", account_tokens, name="account-tokens")]

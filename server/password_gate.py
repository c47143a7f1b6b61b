"""Sends a session signed in with a lead's one-time password to the set-password page until its owner sets one.

The sign-in view (annotate.views.people.SignInView) marks the session; this middleware reads only that mark, so
it costs no query. The signed image path is left alone (it never reads the session), and so are the
set-password page itself and signing out. API calls get the JSON error instead of a redirect.
"""
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from annotate.exceptions import error_body

SESSION_KEY = "ferlab_must_set_password"
EXEMPT_PREFIXES = ("/api/faces/", "/static/", "/accounts/logout/", "/accounts/password/set/", "/healthz")


class PasswordGateMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if not path.startswith(EXEMPT_PREFIXES) and request.session.get(SESSION_KEY):
            if path.startswith("/api/"):
                return JsonResponse(error_body("password_change_required", "Set your own password first: you signed in "
                                               "with a one-time password."), status=403)
            return redirect(f"{reverse('password-set')}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

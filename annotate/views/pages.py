"""Sign in and out, "my projects", and a health check."""
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET, require_safe

from annotate.access import may_create_projects
from annotate.selectors.projects import project_list_for_user
from annotate.views.people import SignInView
from server.settings.probe import reachable


@require_safe
@login_required
def home(request):
    return render(request, "annotate/home.html", {
        "entries": project_list_for_user(user=request.user), "can_create": may_create_projects(request.user),
    })


@require_GET
def healthz(request):
    """Each dependency's state, so an orchestrator can tell: 200 while the database answers (labelling needs
    nothing else), with "degraded" when the broker or the cache is away; 503 when the database is."""
    checks = {"database": _database_state(), "broker": _broker_state(), "cache": _cache_state()}
    down = [name for name, state in checks.items() if state == "down"]
    status = "down" if "database" in down else "degraded" if down else "ok"
    return JsonResponse({"status": status, **checks}, status=503 if status == "down" else 200)


def _database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return "down"
    return "ok"


def _broker_state() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "in-process"
    return "ok" if reachable(settings.CELERY_BROKER_URL) else "down"


def _cache_state() -> str:
    location = settings.CACHES["default"].get("LOCATION", "")
    if not str(location).startswith(("redis://", "rediss://")):
        return "local"
    return "ok" if reachable(location) else "down"


urlpatterns = [
    path("", home, name="home"),
    path("accounts/login/", SignInView.as_view(), name="login"),  # notices a one-time password
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]

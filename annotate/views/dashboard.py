"""Pages: the lead's audit dashboard (not built yet: issue 6)."""
from django.http import HttpResponse
from django.urls import path


def project_overview(request, project_id: int):
    return HttpResponse("The audit dashboard is not built yet.", status=501)


urlpatterns = [path("projects/<int:project_id>/", project_overview, name="project-overview")]

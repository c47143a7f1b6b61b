"""Pages: the labelling page (not built yet: issue 4)."""
from django.http import HttpResponse
from django.urls import path


def label(request, project_id: int):
    return HttpResponse("The labelling page is not built yet.", status=501)


urlpatterns = [path("projects/<int:project_id>/label/", label, name="label")]

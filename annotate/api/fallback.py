"""The API's answer to a path no endpoint matches (an unknown route, a non-integer id): the one JSON error
shape with 404, never the HTML not-found page."""
from django.conf import settings
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve

from annotate.exceptions import error_body

URL_NAME = "api-not-found"


def api_not_found(request, rest: str = ""):
    # The catch-all would hide APPEND_SLASH's redirect (`/api/projects` to `/api/projects/`): keep it.
    if settings.APPEND_SLASH and request.method in ("GET", "HEAD") and not request.path_info.endswith("/"):
        try:
            match = resolve(request.path_info + "/")
        except Resolver404:
            match = None
        if match is not None and match.url_name != URL_NAME:
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
    return JsonResponse(error_body("not_found", "No API endpoint at this address."), status=404)

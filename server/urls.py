"""Top-level URLs: pages, the REST API with its OpenAPI schema, the admin, a health check."""
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from annotate.api.fallback import URL_NAME as API_NOT_FOUND, api_not_found
from annotate.views.pages import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    # Signed-in users only (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]); the docs page sends others to sign in.
    # The split view serves Swagger UI's start-up script as a file, so the page needs no inline script.
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # GET only: its HTML renderer has no template for OPTIONS metadata (a 500 before).
    path("api/docs/", login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema", http_method_names=["get", "head"])),
         name="api-docs"),
    path("api/", include("annotate.api.urls")),
    re_path(r"^api/(?P<rest>.*)$", api_not_found, name=API_NOT_FOUND),
    path("healthz", healthz, name="healthz"),
    path("", include("annotate.urls")),
]

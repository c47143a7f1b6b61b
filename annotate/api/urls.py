"""API URLs, one module per concern."""
from annotate.api import audit, imports, projects, quality, work

urlpatterns = projects.urlpatterns + imports.urlpatterns + work.urlpatterns + quality.urlpatterns + audit.urlpatterns

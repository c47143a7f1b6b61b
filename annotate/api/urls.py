"""API URLs, one module per concern."""
from annotate.api import audit, imports, jobs, projects, quality, work

urlpatterns = projects.urlpatterns + jobs.urlpatterns + imports.urlpatterns + work.urlpatterns + quality.urlpatterns + audit.urlpatterns

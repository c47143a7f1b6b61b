"""API URLs, one module per concern."""
from annotate.api import audit, exports, imports, jobs, projects, quality, versions, work

urlpatterns = projects.urlpatterns + jobs.urlpatterns + versions.urlpatterns + exports.urlpatterns + imports.urlpatterns + work.urlpatterns + quality.urlpatterns + audit.urlpatterns

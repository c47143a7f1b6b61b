"""API URLs, one module per concern."""
from annotate.api import audit, exports, gold, imports, issue_facets, jobs, models, projects, quality, tokens, versions, work

urlpatterns = projects.urlpatterns + jobs.urlpatterns + models.urlpatterns + versions.urlpatterns + exports.urlpatterns + imports.urlpatterns + work.urlpatterns + quality.urlpatterns + audit.urlpatterns + gold.urlpatterns + issue_facets.urlpatterns + tokens.urlpatterns

from annotate.api import project_settings  # noqa: E402  (settings preview and audit log)

urlpatterns += project_settings.urlpatterns

from annotate.api import erasure  # noqa: E402  (its own line: several helpers add modules above)

urlpatterns += erasure.urlpatterns

from annotate.api import people  # noqa: E402  (members, accounts, invitations)

urlpatterns += people.urlpatterns

from annotate.api import dimensions  # noqa: E402  (valence-arousal and action units on the dashboard, #18)

urlpatterns += dimensions.urlpatterns

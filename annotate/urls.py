"""Server-rendered pages: each concern's view module contributes its own patterns."""
from annotate.views import account, dashboard, labelling, pages

urlpatterns = pages.urlpatterns + account.urlpatterns + labelling.urlpatterns + dashboard.urlpatterns

from annotate.views import project_pages  # noqa: E402  (new project, settings, audit log)

urlpatterns += project_pages.urlpatterns

from annotate.views import uploads  # noqa: E402  (the upload page)

urlpatterns += uploads.urlpatterns

from annotate.views import people  # noqa: E402  (the People tab, invitation links, set-your-password)

urlpatterns += people.urlpatterns

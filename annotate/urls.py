"""Server-rendered pages: each concern's view module contributes its own patterns."""
from annotate.views import dashboard, labelling, pages

urlpatterns = pages.urlpatterns + labelling.urlpatterns + dashboard.urlpatterns

from annotate.views import uploads  # noqa: E402  (the upload page)

urlpatterns += uploads.urlpatterns

"""API: quality (not built yet)."""

urlpatterns = []

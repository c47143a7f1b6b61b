"""API: audit (not built yet)."""

urlpatterns = []

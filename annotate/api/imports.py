"""API: imports (not built yet)."""

urlpatterns = []

"""API: work (not built yet)."""

urlpatterns = []

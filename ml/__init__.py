"""FERLab expression model: plain numpy/torch code, no Django, Celery or project imports."""

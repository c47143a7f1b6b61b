"""FERLab's domain app: models, services (writes), selectors (reads), API, tasks."""

"""Server-rendered pages; data comes from selectors, changes go through the API."""

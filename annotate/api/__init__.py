"""REST API: one view per operation, small input and output serializers, access checks from annotate.access."""

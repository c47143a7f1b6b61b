"""The OpenAPI schema's error answers, written once: every operation documents the one JSON error shape
(annotate.exceptions) for the statuses its kind of request can get, so a client (and the schemathesis run in
tests/server/test_schema_fuzz.py) knows them without each view listing them."""
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
WHY = {
    400: "The request is not valid (details name the fields), or the service refused it.",
    401: "Not signed in: no session and no valid API token.",
    403: "Signed in, but not allowed: another role's work (e.g. leads only), or a write without its CSRF token.",
    404: "No such object for the caller: missing, or outside their projects (ids do not leak).",
    409: "The object's state does not allow it now (e.g. already answered, a job already finished).",
}


class ErrorBody(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for programs: e.g. invalid, not_found, lead_only.")
    message = serializers.CharField(help_text="For people.")
    details = serializers.JSONField(required=False, help_text="Per-field messages or figures, when there are any.")


class ErrorOutput(serializers.Serializer):
    error = ErrorBody()


class FERLabAutoSchema(AutoSchema):
    def error_statuses(self) -> list[int]:
        """The error statuses this operation can answer: 401 and 403 wherever sign-in is needed, 404 where the
        request names something (in the path, the query or the body), 400 where it carries input or writes,
        409 for writes."""
        statuses = []
        if not any(issubclass(p, AllowAny) for p in getattr(self.view, "permission_classes", [])):
            statuses += [401, 403]
        has_query = any(p.get("in") == "query" for p in self._get_parameters())
        has_body = self.method in WRITES and self.get_request_serializer() is not None
        if has_query or has_body or self.method in WRITES:
            statuses.append(400)
        if "{" in self.path or has_query or has_body:
            statuses.append(404)
        if self.method in WRITES:
            statuses.append(409)
        return sorted(statuses)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if self.method == "DELETE" and set(responses) == {"204"} and self.get_response_serializers() is not None:
            # drf-spectacular assumes an empty 204 for DELETE; FERLab's deletes answer 200 with what they changed.
            responses = {"200": self._get_response_for_code(self.get_response_serializers(), "200", direction=direction)}
        if direction == "response":
            for status in self.error_statuses():
                responses.setdefault(str(status), self._get_response_for_code(
                    OpenApiResponse(ErrorOutput, description=WHY[status]), str(status), direction=direction))
        return responses

"""One error type with stable codes, mapped to one JSON shape in one exception handler."""
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class FERLabError(Exception):
    """A failure the caller can act on; `code` is stable, `message` is for people."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, details: dict | list | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.details = details
        self.status = status or self.status


class ValidationFailed(FERLabError):
    code = "invalid"
    status = 400


class NotFound(FERLabError):
    code = "not_found"
    status = 404


class Forbidden(FERLabError):
    code = "forbidden"
    status = 403


class Conflict(FERLabError):
    code = "conflict"
    status = 409


class Gone(FERLabError):
    """What was asked for existed and was removed on purpose (an erased face): 410, so clients stop asking."""

    code = "gone"
    status = 410


def error_body(code: str, message: str, details=None) -> dict:
    body = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"]["details"] = details
    return body


def exception_handler(exc, context):
    """Render FERLab and DRF errors as {"error": {"code", "message", "details"?}}."""
    if isinstance(exc, FERLabError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        response.data = error_body("invalid", "The request is not valid.", exc.detail)
    elif isinstance(exc, drf_exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        response.data = error_body(code, str(exc.detail))
    return response

"""Headers on every answer: a Content-Security-Policy (scripts and styles only from this site), and no
caching of what the API or a signed-in page shows."""
from django.conf import settings


class SecurityHeadersMiddleware:
    """Sets Content-Security-Policy on every response, and `Cache-Control: private, no-store` on API responses
    and signed-in pages that set no caching policy of their own (stored images and export downloads keep
    their `private, max-age`)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            relaxed = any(request.path.startswith(prefix) for prefix in settings.FERLAB_CSP_INLINE_STYLE_PATHS)
            response["Content-Security-Policy"] = settings.FERLAB_CSP_INLINE_STYLE if relaxed else settings.FERLAB_CSP
        if "Cache-Control" not in response and (request.path.startswith("/api/") or _signed_in(request)):
            response["Cache-Control"] = "private, no-store"
        return response


def _signed_in(request) -> bool:
    user = getattr(request, "user", None)
    return user is not None and user.is_authenticated

"""REST API foundations: the one error shape {"message", "extra"} for every failure, the pagination of
every list (pagination.py), and JSON answers for paths under /api/ that match nothing."""

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from connector.core.errors import ApplicationError


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return Response({"message": exc.message, "extra": exc.extra}, status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {"message": "Validation error", "extra": {"fields": detail}}
    else:
        message = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        response.data = {"message": str(message), "extra": {}}
        if response.status_code == status.HTTP_429_TOO_MANY_REQUESTS and getattr(exc, "wait", None):
            response.data["extra"]["retry_after"] = exc.wait
    return response


class ErrorSerializer(serializers.Serializer):
    """The shape of every API error (for the OpenAPI schema)."""

    message = serializers.CharField()
    extra = serializers.DictField(help_text='Validation errors: {"fields": {field: [message, ...]}}; '
                                            'throttled requests: {"retry_after": seconds}.')


def error_responses(*codes: int) -> dict:
    """`responses=` entries documenting the error shape for the given status codes."""
    descriptions = {400: "Invalid input", 401: "Missing or invalid credentials", 403: "Not allowed for your role",
                    404: "Not found (or not this tenant's)", 429: "Too many requests; see Retry-After"}
    return {code: OpenApiResponse(ErrorSerializer, description=descriptions.get(code, "")) for code in codes}


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@authentication_classes([])
@permission_classes([])
def api_not_found(request, *args, **kwargs):
    """Any /api/ path that names nothing (such as /api/v1/deliveries/abc/): a JSON 404, not an HTML page."""
    raise exceptions.NotFound("No such API endpoint.")


def server_error(request, *args, **kwargs):
    """handler500: under /api/ the error shape as JSON, elsewhere Django's page (templates/500.html)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"message": "Server error.", "extra": {}}, status=500)
    return defaults.server_error(request, *args, **kwargs)


def bad_request(request, exception, *args, **kwargs):
    """handler400 (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, a malformed multipart body ...): JSON under
    /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"message": "Bad request.", "extra": {}}, status=400)
    return defaults.bad_request(request, exception, *args, **kwargs)


@extend_schema_field({"type": "string", "pattern": r"^-?\d{1,16}(\.\d{1,2})?$", "example": "1250.00"})
class AmountField(serializers.DecimalField):
    """A money amount as a decimal string (18 digits, 2 after the point), documented with the exact
    pattern it accepts (drf-spectacular's default pattern also admits strings such as "-.")."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=18, decimal_places=2, **kwargs)

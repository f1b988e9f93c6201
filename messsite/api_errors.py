"""One error shape for every API failure:

    {"error": {"status": 400, "code": "invalid", "message": "...", "fields": {...}}}

``fields`` is present for validation errors and maps each field to its messages.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.views import exception_handler as drf_exception_handler


def _first_message(detail):
    if isinstance(detail, dict):
        for key, value in detail.items():
            message = _first_message(value)
            return message if key == "non_field_errors" else f"{key}: {message}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    body = {"status": response.status_code, "code": getattr(exc, "default_code", "error")}
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        if isinstance(codes, str):
            body["code"] = codes
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        body["message"] = _first_message(exc.detail)
        body["fields"] = exc.detail
    else:
        body["message"] = _first_message(exc.detail) if hasattr(exc, "detail") else str(exc)
    response.data = {"error": body}
    return response


# --- The same shape for the OpenAPI schema -------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField(help_text="Stable, machine-readable reason, e.g. not_found or too_short.")
    message = serializers.CharField(help_text="For people.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Validation errors per input field.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


_MEANINGS = {
    400: "Invalid input.",
    401: "No valid credentials were given.",
    403: "The user lacks the permission this needs.",
    404: "No such object.",
    409: "The object's present state does not allow this (e.g. a run that has not finished).",
}


def error_responses(*statuses):
    """OpenAPI responses for the shared error body, for `extend_schema(responses=...)`."""
    return {code: OpenApiResponse(ErrorSerializer, description=_MEANINGS[code]) for code in statuses}


def json_error(status, code, message):
    """The same shape from a plain Django view (the pages' JSON endpoints)."""
    return JsonResponse({"error": {"status": status, "code": code, "message": message}}, status=status)

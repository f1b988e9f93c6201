"""One error shape for every API failure:

    {"error": {"status": 400, "code": "invalid", "message": "...", "fields": {...}}}

``fields`` is present for validation errors and maps each field to its messages.
"""

from contextlib import contextmanager

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.views import defaults
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


def _messages(detail):
    """A field's messages as a flat list: a list field's or nested object's errors come keyed
    by item or member ({"0": ["..."]}), and carry that key in front instead."""
    if isinstance(detail, dict):
        return [f"{key}: {message}" for key, value in detail.items() for message in _messages(value)]
    if isinstance(detail, list):
        return [message for value in detail for message in _messages(value)]
    return [str(detail)]


class Refused(exceptions.APIException):
    """A service's refusal in the shared error shape: its stable code, its message, its status."""

    def __init__(self, code, message, status=400):
        super().__init__(message, code=code)
        self.status_code = status


@contextmanager
def refusing(error_class, status_of):
    """`with refusing(ServiceError, {code: status}):` a ServiceError raised inside (an
    exception with .code and .message) becomes a Refused, at the status its code maps to
    and a 400 for every other code."""
    try:
        yield
    except error_class as error:
        raise Refused(error.code, error.message, status_of.get(error.code, 400)) from error


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
        body["fields"] = {field: _messages(detail) for field, detail in exc.detail.items()}
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
    429: "Too many requests; Retry-After says when to try again.",
    503: "Not ready yet (e.g. an index being built); try again in a few seconds.",
}


def error_responses(*statuses):
    """OpenAPI responses for the shared error body, for `extend_schema(responses=...)`."""
    return {code: OpenApiResponse(ErrorSerializer, description=_MEANINGS[code]) for code in statuses}


def json_error(status, code, message):
    """The same shape from a plain Django view (the pages' JSON endpoints)."""
    return JsonResponse({"error": {"status": status, "code": code, "message": message}}, status=status)


def page_not_found(request, exception):
    """Django's 404 for a URL no route takes (e.g. /api/v1/tracks/1.5/): in the API's error
    shape under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return json_error(404, "not_found", "No such API endpoint or object.")
    return defaults.page_not_found(request, exception)

"""Refuse request input MESS cannot take with a 400 (or 413) before any view sees it.

PostgreSQL text cannot hold U+0000, so a NUL in a slug in the address, a filter in the
query string, a form field or a JSON string used to reach the database as a psycopg
DataError: an HTML 500. No input MESS accepts has a use for one, so one middleware checks
every place a client can put text (address, query string, headers and cookies, form and
JSON bodies) instead of each view and field guarding itself.

The answer is 400 with code ``nul_byte``: in the API's JSON error shape for the API and
JSON clients, as a short HTML page for the rest. A body declared larger than
MESS_MAX_REQUEST_BYTES is refused first (413 ``too_large``), unread. Parsing a form here also meets its limits
first, so they are refused here too, with their reason: too many files (400
``too_many_files``), fields too large (413 ``too_large``), too many fields or a malformed
form (400 ``bad_request``).

POST forms are read through ``request.POST`` (parsed once; DRF reuses that parse). Django
parses no other method's form, so a PUT or PATCH one (DRF parses those itself, later) and
a JSON body are read through ``request.body``, which the view can read again, unless they
exceed DATA_UPLOAD_MAX_MEMORY_SIZE; a body that cannot be parsed is left to the view,
which reports it as it always has.
"""

import io
import json
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFilesSent
from django.http import HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.utils.datastructures import MultiValueDict
from django.utils.html import escape

from messsite.api_errors import json_error

NUL = "\x00"
CODE = "nul_byte"
# In JSON text a NUL can only appear escaped (raw control characters are invalid).
_JSON_NUL = re.compile(rb"\\u0000", re.IGNORECASE)
_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


class RejectBadRequestInputMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # From the declared length, before a byte of the body is read. The proxy in front
        # refuses these already (deploy/nginx.conf.template); this covers gunicorn reached
        # directly. Django's own check counts only form fields, never files.
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > settings.MESS_MAX_REQUEST_BYTES:
            return _refused(request, 413, "too_large", (
                f"The request body is larger than MESS accepts (MESS_MAX_REQUEST_BYTES = "
                f"{settings.MESS_MAX_REQUEST_BYTES} bytes)."))
        try:
            where = nul_location(request)
        # The form is parsed here first, so its limits are refused here: with the reason, not
        # Django's bare page.
        except TooManyFilesSent:
            return _refused(request, 400, "too_many_files", (
                f"The request holds more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files "
                "(MESS_MAX_FILES_PER_UPLOAD); send them in smaller batches."))
        except RequestDataTooBig:
            return _refused(request, 413, "too_large", "The form's fields are larger than MESS accepts.")
        except SuspiciousOperation as exc:  # too many fields, a malformed boundary, ...
            return _refused(request, 400, "bad_request", str(exc) or "The request's form cannot be read.")
        if where is None:
            return self.get_response(request)
        return _refused(request, 400, CODE, f"The {where} contains a NUL character (\\x00), which MESS does not accept.")


def _refused(request, status, code, message):
    """The API's JSON error shape for the API and JSON clients, a short page for the rest."""
    if _wants_json(request):
        return json_error(status, code, message)
    return HttpResponse(
        f"<!doctype html><title>Refused</title><h1>Refused ({status})</h1><p>{escape(message)}</p>", status=status
    )


def nul_location(request):
    """Where in `request` a NUL character is, in words, or None when there is none."""
    if NUL in request.path_info:
        return "address"
    if where := _in_pairs(request.GET.lists(), "query parameter"):
        return where
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and NUL in value:
            return f"{key[5:].replace('_', '-').title()} header"
    if where := _in_pairs(((k, [v]) for k, v in request.COOKIES.items()), "cookie"):
        return where
    if request.content_type in _FORMS:
        try:
            fields, files = _form(request)
        except MultiPartParserError:  # unparseable: the view reports it in its own way
            return None
        return _in_pairs(fields.lists(), "form field") or _in_file_names(files)
    if _is_json(request):
        return _in_json(request)
    return None


def _form(request):
    """(fields, files) of a form body: Django's parse for POST, else one of a copy of the
    body (empty when it is over DATA_UPLOAD_MAX_MEMORY_SIZE, left unchecked)."""
    if request.method == "POST":
        return request.POST, request.FILES
    try:
        body = request.body
    except RequestDataTooBig:  # Django sets this limit on POST forms only: the view decides
        return QueryDict(), MultiValueDict()
    if request.content_type == "multipart/form-data":
        return MultiPartParser(request.META, io.BytesIO(body), request.upload_handlers, request.encoding).parse()
    return QueryDict(body, encoding=request.encoding), MultiValueDict()


def _in_pairs(pairs, kind):
    for key, values in pairs:
        if NUL in key or any(isinstance(v, str) and NUL in v for v in values):
            return f"{kind} “{_shown(key)}”"
    return None


def _in_file_names(files):
    for key, uploads in files.lists():
        if any(NUL in (upload.name or "") for upload in uploads):
            return f"file name of form field “{_shown(key)}”"
    return None


def _in_json(request):
    try:
        body = request.body
    except RequestDataTooBig:
        return None
    if not _JSON_NUL.search(body):
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None  # the view's parser answers with its own 400
    path = _json_nul_path(data)
    if path is None:
        return None
    return f"JSON field “{_shown(path)}”" if path else "JSON body"


def _json_nul_path(value, path=""):
    """The dotted path of the first string (key or value) holding a NUL, or None."""
    if isinstance(value, str):
        return path if NUL in value else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((str(i), item) for i, item in enumerate(value))
    else:
        return None
    for key, item in items:
        here = f"{path}.{key}" if path else key
        if NUL in key:
            return here
        found = _json_nul_path(item, here)
        if found is not None:
            return found
    return None


def _is_json(request):
    content_type = request.content_type or ""
    return content_type == "application/json" or content_type.endswith("+json")


def _wants_json(request):
    if request.path_info.startswith("/api/") or _is_json(request):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def _shown(text):
    return text.replace(NUL, "\\x00")

"""The Subsonic wire format: parameters in, the `subsonic-response` envelope out.

An endpoint returns a plain dict (what goes inside the envelope) and this module renders
it as JSON (`f=json`) or XML (the default), one set of rules for both:
- a dict is an element: its scalar members are attributes in XML (booleans as
  true/false, None left out), except `value`, the element's text (a genre's name); its
  dict members child elements, its list members repeated child elements named by the key
  (a list of scalars: elements holding each as text);
- JSON keeps the same dict, booleans and numbers as JSON's own; None is left out in both.
Errors are SubsonicError raised anywhere below the view, answered (as the protocol wants)
with HTTP 200 and an `error` element; only throttling and lockouts use HTTP 429, so that a
client's HTTP layer backs off.
"""

import json
import re
from xml.sax.saxutils import escape, quoteattr

from django.http import HttpResponse

API_VERSION = "1.16.1"
SERVER_TYPE = "MESS"
SERVER_VERSION = "1.0.0"
XML_NAMESPACE = "http://subsonic.org/restapi"

# Error codes of the specification (Responses/error.md).
GENERIC = 0
MISSING_PARAMETER = 10
WRONG_CREDENTIALS = 40
TOKEN_AUTH_NOT_SUPPORTED = 41
AUTH_MECHANISM_NOT_SUPPORTED = 42
CONFLICTING_AUTH = 43
INVALID_API_KEY = 44
NOT_AUTHORISED = 50
NOT_FOUND = 70

# Characters XML 1.0 cannot carry at all, even escaped; a tag read from a file may hold them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

# Beyond this an integer parameter is refused rather than handed to the database.
LARGEST_INT = 2**31 - 1


class SubsonicError(Exception):
    def __init__(self, code, message, *, status=200, retry_after=None, help_url=None):
        super().__init__(message)
        self.code, self.message = code, message
        self.status, self.retry_after, self.help_url = status, retry_after, help_url


def not_found(what):
    return SubsonicError(NOT_FOUND, f"{what} not found.")


class Params:
    """A request's parameters: the query string and, for a form POST (the formPost
    extension), the form's fields, each name possibly repeated."""

    def __init__(self, request):
        self._values = {}
        for source in (request.GET, request.POST):
            for name, values in source.lists():
                self._values.setdefault(name, []).extend(values)

    def __contains__(self, name):
        return bool(self._values.get(name))

    def get(self, name, default=None):
        values = self._values.get(name)
        return values[0] if values else default

    def required(self, name):
        value = self.get(name)
        if value is None or value == "":
            raise SubsonicError(MISSING_PARAMETER, f"Required parameter '{name}' is missing.")
        return value

    def list(self, name):
        return [value for value in self._values.get(name, []) if value != ""]

    def int(self, name, default=None, *, minimum=0, maximum=LARGEST_INT):
        """An integer clamped to [minimum, maximum] (clients send counts past a server's
        cap and expect the cap); not a number is error 0 with the parameter's name."""
        value = self.get(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise SubsonicError(GENERIC, f"Parameter '{name}' must be an integer, not {value[:40]!r}.") from None
        return min(max(number, minimum), maximum)

    def bool(self, name, default=None):
        value = self.get(name)
        if value is None or value == "":
            return default
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise SubsonicError(GENERIC, f"Parameter '{name}' must be true or false, not {value[:40]!r}.")


# A JSONP callback is written into a script: a dotted JavaScript name and nothing else.
_CALLBACK = re.compile(r"[A-Za-z_$][\w$]{0,63}(\.[A-Za-z_$][\w$]{0,63}){0,4}")


def envelope(status, payload):
    return {
        "status": status,
        "version": API_VERSION,
        "type": SERVER_TYPE,
        "serverVersion": SERVER_VERSION,
        "openSubsonic": True,
        **payload,
    }


def render(params, payload, *, status="ok", http_status=200):
    body = envelope(status, payload)
    form = params.get("f", "xml")
    if form in ("json", "jsonp"):
        text = json.dumps({"subsonic-response": _without_none(body)}, ensure_ascii=False, allow_nan=False)
        callback = params.get("callback", "")
        if form == "jsonp" and _CALLBACK.fullmatch(callback):
            return HttpResponse(f"{callback}({text});", status=http_status,
                                content_type="application/javascript; charset=utf-8")
        return HttpResponse(text, status=http_status, content_type="application/json; charset=utf-8")
    xml = '<?xml version="1.0" encoding="UTF-8"?>' + _element("subsonic-response", body, namespace=XML_NAMESPACE)
    return HttpResponse(xml, status=http_status, content_type="text/xml; charset=utf-8")


def render_error(params, error):
    payload = {"error": {"code": error.code, "message": error.message, "helpUrl": error.help_url}}
    response = render(params, payload, status="failed", http_status=error.status)
    if error.retry_after is not None:
        response["Retry-After"] = str(error.retry_after)
    return response


def _without_none(value):
    if isinstance(value, dict):
        return {key: _without_none(member) for key, member in value.items() if member is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    return value


def _attribute(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("\ufffd", str(value))


def _element(name, value, namespace=None):
    if not isinstance(value, dict):  # an item of a list of scalars, e.g. an extension's versions
        return f"<{name}>{escape(_attribute(value))}</{name}>"
    attributes = [f' xmlns="{namespace}"'] if namespace else []
    children = []
    for key, member in value.items():
        if member is None:
            continue
        if key == "value":
            children.append(escape(_attribute(member)))
        elif isinstance(member, dict):
            children.append(_element(key, member))
        elif isinstance(member, list):
            children.extend(_element(key, item) for item in member)
        else:
            attributes.append(f" {key}={quoteattr(_attribute(member))}")
    if not children:
        return f"<{name}{''.join(attributes)}/>"
    return f"<{name}{''.join(attributes)}>{''.join(children)}</{name}>"

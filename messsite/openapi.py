"""drf-spectacular's AutoSchema, told what the shared API machinery can answer on every
endpoint, so that the schema lists every status a client can get (schemathesis checks it,
tests/test_api_schema_conformance.py):

- anonymous access (an empty security requirement) wherever the permissions let it in;
- the shared error body for what authentication (401), permissions and CSRF (403),
  lookups and paging (404), parameters and bodies (400) and throttles (429) refuse.

Statuses a view declares itself (`error_responses`) keep their own descriptions.
"""

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from messsite.api_errors import error_responses


class AutoSchema(SpectacularAutoSchema):
    def get_auth(self):
        auths = super().get_auth()
        if auths and {} not in auths and self._open_to_anonymous():
            auths.append({})
        return auths

    def _open_to_anonymous(self):
        """Whether every permission of the view lets a client without credentials through."""
        django_request = HttpRequest()
        django_request.method = self.method
        request = Request(django_request)
        request.user = AnonymousUser()
        return all(permission.has_permission(request, self.view) for permission in self.view.get_permissions())

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, response in error_responses(*self._implied_errors()).items():
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(response, str(code), direction=direction)
        return responses

    def _implied_errors(self):
        codes = set()
        authenticated = bool(self.view.get_authenticators())
        if authenticated:
            codes.add(401)  # a wrong token is refused on every endpoint that reads tokens
        if authenticated and self.method not in SAFE_METHODS:
            codes.add(403)  # permissions, and CSRF for sessions
        if "{" in self.path or self._get_pagination_parameters():
            codes.add(404)  # no such object, or a page past the last
        has_query = any(parameter["in"] == "query" for parameter in self._get_parameters())
        if has_query or self.method in ("POST", "PUT", "PATCH"):
            codes.add(400)  # query parameters and bodies are validated
        if self.view.get_throttles():
            codes.add(429)
        return sorted(codes)

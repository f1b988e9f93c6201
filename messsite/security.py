"""Who the client is, and how many wrong passwords it may try.

``client_address`` is the one answer to "which address is this request from" for
everything keyed on it (API rate limits, sign-in lockout): REMOTE_ADDR, unless
``MESS_PROXY_COUNT`` proxies are trusted in front, in which case the address that the
outermost of them appended to X-Forwarded-For. The header is otherwise the client's to
write and is ignored.

Failed sign-ins are counted in Redis per account (its username, case-folded) and per
client address, over ``MESS_LOGIN_LOCKOUT_SECONDS`` from the first failure. Past
``MESS_LOGIN_MAX_FAILURES_PER_ACCOUNT`` (or ``..._PER_ADDRESS``) the account (or address)
is locked for ``MESS_LOGIN_LOCKOUT_SECONDS``: the token endpoint, the sign-in page and
the admin's answer 429 with Retry-After and the reason, and ``LockoutBackend`` refuses
every other authenticate(), the right password included. A successful sign-in clears its
account's count, not its address's.
"""

import hashlib
import math
from dataclasses import dataclass

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied, ValidationError
from django.dispatch import receiver
from django.utils.translation import ngettext
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.views import APIView

from messsite.api_errors import ErrorSerializer, error_responses
from messsite.throttling import redis_client


def client_address(request):
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.MESS_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote
    addresses = [address.strip() for address in forwarded.split(",") if address.strip()]
    return addresses[-min(proxies, len(addresses))] if addresses else remote


# --- counting failures ----------------------------------------------------------------


@dataclass
class Lockout:
    scope: str  # "account" or "address"
    seconds: int

    def message(self):
        minutes = max(1, math.ceil(self.seconds / 60))
        wait = ngettext("%d minute", "%d minutes", minutes) % minutes
        if self.scope == "account":
            return (
                "Too many failed sign-ins for this account. It is locked for "
                f"{wait}; until then even the correct password is refused."
            )
        return f"Too many failed sign-ins from your address. Try again in {wait}."


def _counters(request, username):
    """(scope, redis key, limit) for each counter this attempt touches."""
    counters = []
    if username:
        digest = hashlib.sha256(str(username).casefold().encode()).hexdigest()
        counters.append(("account", f"login-fail:account:{digest}", settings.MESS_LOGIN_MAX_FAILURES_PER_ACCOUNT))
    address = client_address(request) if request is not None else ""
    if address:
        counters.append(("address", f"login-fail:address:{address}", settings.MESS_LOGIN_MAX_FAILURES_PER_ADDRESS))
    return counters


def lockout(request, username):
    """The Lockout this attempt falls under (the longest), or None."""
    counters = _counters(request, username)
    if not counters:
        return None
    pipeline = redis_client().pipeline()
    for _, key, _ in counters:
        pipeline.get(key).ttl(key)
    results = pipeline.execute()
    found = None
    for (scope, _, limit), count, ttl in zip(counters, results[::2], results[1::2], strict=True):
        if int(count or 0) >= limit:
            seconds = ttl if ttl and ttl > 0 else settings.MESS_LOGIN_LOCKOUT_SECONDS
            if found is None or seconds > found.seconds:
                found = Lockout(scope, seconds)
    return found


def record_failure(request, username):
    seconds = settings.MESS_LOGIN_LOCKOUT_SECONDS
    client = redis_client()
    for _, key, limit in _counters(request, username):
        count, ttl = client.pipeline().incr(key).ttl(key).execute()
        # The window starts at the first failure; reaching the limit starts the full lockout.
        if count == limit or ttl < 0:
            client.expire(key, seconds)


def clear_account(username):
    for scope, key, _ in _counters(None, username):
        if scope == "account":
            redis_client().delete(key)


def _username(credentials):
    return credentials.get(get_user_model().USERNAME_FIELD) or credentials.get("username") or ""


@receiver(user_login_failed, dispatch_uid="messsite.security.count_failure")
def _count_failure(sender, credentials, request=None, **kwargs):
    if request is not None:  # authenticate() outside a request (a shell, a command) is not guessing
        record_failure(request, _username(credentials))


class LockoutBackend(BaseBackend):
    """First in AUTHENTICATION_BACKENDS: a locked account or address authenticates nowhere
    (raising PermissionDenied stops authenticate() before the next backend). It checks no
    password itself; it loads users as ModelBackend does, since login() and force_login()
    without a backend name record the first one in the session."""

    def authenticate(self, request, **credentials):
        if request is not None and lockout(request, _username(credentials)):
            raise PermissionDenied
        return None

    def get_user(self, user_id):
        return ModelBackend().get_user(user_id)


# --- the sign-in doors ----------------------------------------------------------------


class LockedOut(exceptions.APIException):
    status_code = 429
    default_code = "locked_out"
    default_detail = "Too many failed sign-ins."

    def __init__(self, lock):
        super().__init__(lock.message())
        self.wait = lock.seconds  # DRF's exception handler turns this into Retry-After


class ThrottledObtainAuthToken(ObtainAuthToken):
    """DRF's token endpoint, with the API's rate limits (DRF turns them off for it) and
    the sign-in lockout."""

    throttle_classes = APIView.throttle_classes

    @extend_schema(
        responses={
            200: ObtainAuthToken.serializer_class,
            **error_responses(400),
            429: OpenApiResponse(ErrorSerializer, description="Too many requests or failed sign-ins; see Retry-After."),
        }
    )
    def post(self, request, *args, **kwargs):
        username = request.data.get("username", "") if isinstance(request.data, dict) else ""
        lock = lockout(request, username)
        if lock:
            raise LockedOut(lock)
        response = super().post(request, *args, **kwargs)  # failures are counted by the signal
        clear_account(username)
        return response


class LockoutFormMixin:
    """For an AuthenticationForm: a locked account or address is refused with the reason
    as the form's error (both sign-in templates show those), before its password is
    checked; `lock` says the view should answer 429."""

    lock = None

    def clean(self):
        self.lock = lockout(self.request, self.data.get("username", ""))
        if self.lock:
            raise ValidationError(self.lock.message(), code="locked_out")
        return super().clean()


class LockoutAuthenticationForm(LockoutFormMixin, AuthenticationForm):
    pass


class LockoutAdminAuthenticationForm(LockoutFormMixin, AdminAuthenticationForm):
    pass


def with_lockout_status(response):
    """The sign-in page `response` with status 429 and Retry-After when its form was locked out."""
    context = getattr(response, "context_data", None) or {}  # a redirect has none
    lock = getattr(context.get("form"), "lock", None)
    if lock:
        response.status_code = 429
        response["Retry-After"] = str(lock.seconds)
    return response


class LoginView(auth_views.LoginView):
    """Django's sign-in page; a locked account or address gets the page again, with the
    reason, status 429 and Retry-After, and its password is not checked."""

    authentication_form = LockoutAuthenticationForm

    def post(self, request, *args, **kwargs):
        return with_lockout_status(super().post(request, *args, **kwargs))

    def form_valid(self, form):
        clear_account(form.get_user().get_username())
        return super().form_valid(form)


def admin_login(request, extra_context=None):
    """The admin's sign-in (its own view, template and staff check) with the same lockout:
    urls.py makes LockoutAdminAuthenticationForm its form, and routes /admin/login/ here."""
    return with_lockout_status(admin.site.login(request, extra_context))

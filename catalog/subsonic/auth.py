"""Who a Subsonic request comes from.

Two ways in: an API key (`apiKey`, the OpenSubsonic apiKeyAuthentication extension), or a
user name and password (`u` + `p`, the password plain or `enc:` + its UTF-8 bytes in hex),
checked against Django's password hashes. The salted-token scheme (`t` + `s`) needs the
clear password on the server to recompute md5(password + salt); MESS keeps only hashes,
so it answers error 41 with the way out: an API key.

Wrong passwords count towards the sign-in lockout (messsite/security.py) exactly as failed
sign-ins on the site do; a locked account or address is answered 429.

Players send the password with every request, and a password hash costs ~0.3 s by design,
so a verified (user, password) pair is remembered in this process for VERIFIED_SECONDS,
keyed by an HMAC of both (never the password itself) and only while the user's stored hash
is unchanged: a password change or a deactivation takes effect at once.
"""

import hashlib
import hmac
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.urls import reverse
from django.utils import timezone

from catalog.models import ApiKey
from catalog.subsonic.protocol import (
    AUTH_MECHANISM_NOT_SUPPORTED,
    CONFLICTING_AUTH,
    INVALID_API_KEY,
    MISSING_PARAMETER,
    TOKEN_AUTH_NOT_SUPPORTED,
    WRONG_CREDENTIALS,
    SubsonicError,
)
from messsite.security import clear_account, lockout

VERIFIED_SECONDS = 300
VERIFIED_MAX = 1024
LAST_USED_GRANULARITY = timedelta(minutes=1)  # a key's last use is written at most this often

_verified = {}  # HMAC of (user name, password) -> (user pk, stored hash, expiry)


def key_digest(key):
    return hashlib.sha256(key.encode()).hexdigest()


def authenticate_call(request, params):
    """The active user the parameters name, or SubsonicError with the spec's code."""
    key = params.get("apiKey")
    legacy = [name for name in ("u", "p", "t", "s") if name in params]
    if key and legacy:
        raise SubsonicError(CONFLICTING_AUTH, "Send either apiKey or u with p, not both.")
    if key:
        return _by_key(request, key)
    if "t" in params or "s" in params:
        raise SubsonicError(
            TOKEN_AUTH_NOT_SUPPORTED,
            "Token authentication (t and s) needs the clear password on the server, which MESS never stores. "
            "Create an API key on your account page and sign in with it (apiKey), or send the password (p).",
            help_url=request.build_absolute_uri(reverse("subsonic-keys")),
        )
    if "u" not in params:
        raise SubsonicError(MISSING_PARAMETER, "Required parameter 'apiKey' (or 'u' with 'p') is missing.")
    if "p" not in params:
        raise SubsonicError(MISSING_PARAMETER, "Required parameter 'p' is missing.")
    return _by_password(request, params.get("u"), _password(params.get("p")))


def _refuse_if_locked(request, username):
    lock = lockout(request, username)
    if lock:
        raise SubsonicError(WRONG_CREDENTIALS, lock.message(), status=429, retry_after=lock.seconds)


def _by_key(request, key):
    found = ApiKey.objects.select_related("user").filter(digest=key_digest(key), user__is_active=True).first()
    if found is None:
        # Not counted towards the lockout: 256 random bits are not guessed, and a player still
        # holding a revoked key would lock its whole household's address out. The address's
        # rate limit bounds the tries.
        raise SubsonicError(INVALID_API_KEY, "Invalid API key: it was revoked, or it was never made here.")
    now = timezone.now()
    if found.last_used_at is None or now - found.last_used_at > LAST_USED_GRANULARITY:
        ApiKey.objects.filter(pk=found.pk).update(last_used_at=now)
    return found.user


def _password(value):
    if not value.startswith("enc:"):
        return value
    try:
        return bytes.fromhex(value[4:]).decode()
    except ValueError:
        raise SubsonicError(AUTH_MECHANISM_NOT_SUPPORTED, "p=enc: must be followed by the password's UTF-8 bytes "
                                                          "in hexadecimal.") from None


def _by_password(request, username, password):
    _refuse_if_locked(request, username)
    remembered = hmac.new(settings.SECRET_KEY.encode(), f"{username}\0{password}".encode(), "sha256").digest()
    user = _recall(remembered)
    if user is None:
        user = authenticate(request, username=username, password=password)  # counts a failure itself
        if user is None:
            raise SubsonicError(WRONG_CREDENTIALS, "Wrong username or password.")
        clear_account(username)
        _remember(remembered, user)
    return user


def _recall(remembered):
    found = _verified.get(remembered)
    if found is None:
        return None
    pk, stored_hash, expiry = found
    if expiry < time.monotonic():
        del _verified[remembered]
        return None
    user = get_user_model().objects.filter(pk=pk, is_active=True).first()
    return user if user is not None and user.password == stored_hash else None


def _remember(remembered, user):
    if len(_verified) >= VERIFIED_MAX:
        _verified.pop(next(iter(_verified)))  # the oldest: dicts keep insertion order
    _verified[remembered] = (user.pk, user.password, time.monotonic() + VERIFIED_SECONDS)

"""API keys for players: made, listed and revoked by their owner (the account page)."""

import secrets

from catalog.models import ApiKey
from catalog.subsonic.auth import key_digest

KEY_PREFIX = "mess_"
MAX_KEYS_PER_USER = 50


class KeyRefused(ValueError):
    """Why a key was not made, for its owner."""


def create_key(user, name):
    """(ApiKey, the key itself): the key is shown to its owner now and never again."""
    name = name.strip()
    if not name:
        raise KeyRefused("Name the key after the player or device that will use it.")
    if user.api_keys.count() >= MAX_KEYS_PER_USER:
        raise KeyRefused(f"You have {MAX_KEYS_PER_USER} keys already; revoke one you no longer use first.")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(user=user, name=name[:100], digest=key_digest(key), prefix=key[:12])
    return api_key, key


def revoke_key(user, pk):
    """Revoke `user`'s key `pk`; False when they have no such key."""
    deleted, _ = ApiKey.objects.filter(user=user, pk=pk).delete()
    return deleted > 0

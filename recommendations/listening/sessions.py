"""Radio requests and radio sessions.

A request's parameters (as the API validated them: ids, numbers, names) become a Seed, Caps
and the radio's options here, for a stateless request and for a session alike. A session
keeps its parameters, its random seed, the ids it has served and its seed's query vectors
(radio.SeedUnits, read again once the space's embeddings change) in the cache (Redis), under
an unguessable id (secrets.token_urlsafe), for MESS_RADIO_SESSION_SECONDS after its last
use. One made by a signed-in user is that user's alone; an anonymous one belongs to whoever
holds its id. Two `next` calls at the same moment on one session may both read the same
played list, so a client should wait for one before sending the next.
"""

import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

from django.conf import settings
from django.core.cache import cache
from django.shortcuts import get_object_or_404

from analysis.models import ClipQuery
from catalog.models import Track
from recommendations.listening.radio import Seed, SeedUnits, new_random_seed, radio
from recommendations.listening.rules import CAP_FIELDS, MAX_HISTORY, Caps

SEED_FIELDS = ("track", "start", "end", "clip")
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass
class RadioSession:
    id: str
    owner: int | None  # the user's id; None for an anonymous session
    parameters: dict  # what the radio was asked for, random_seed included
    played: list[int]  # ids served, oldest first, the last MAX_HISTORY
    expires_at: datetime
    seed_units: SeedUnits | None = None  # None in a session stored before sessions kept them


def radio_for(parameters, *, user, played=(), count=10, seed_units=None):
    """The radio a request asks for: `parameters` as the API validated them (track and clip
    as ids); Http404 for an unknown seed track or a clip the user may not see."""
    options = {name: value for name, value in parameters.items() if name not in CAP_FIELDS + SEED_FIELDS}
    return radio(seed_of(parameters, user), caps=Caps.of(parameters), played=played, count=count,
                 seed_units=seed_units, **options)


def seed_of(parameters, user):
    track = clip = None
    if parameters.get("track") is not None:
        track = get_object_or_404(Track.objects.select_related("dataset"), pk=parameters["track"])
    if parameters.get("clip") is not None:
        clips = ClipQuery.objects.select_related("space")
        if not user.is_staff:
            clips = clips.filter(owner=user.pk or -1)  # an anonymous user owns no clip
        clip = get_object_or_404(clips, pk=parameters["clip"])
    return Seed(track, parameters.get("start"), parameters.get("end"), clip)


def start_session(parameters, *, user, count=10):
    """(a new session, its first `count` tracks). Raises what radio_for raises, storing nothing."""
    parameters = {**parameters}
    parameters.setdefault("random_seed", new_random_seed())
    found = radio_for(parameters, user=user, count=count)
    session = RadioSession(secrets.token_urlsafe(16), user.pk if user.is_authenticated else None, parameters,
                           [], _expiry())
    _record(session, found)
    return session, found


def get_session(session_id, user):
    """The session, or None when it expired, never was, or is another user's."""
    if not SESSION_ID.fullmatch(session_id):  # not one token_urlsafe makes: no need to ask Redis
        return None
    state = cache.get(_key(session_id))
    if state is None or (state["owner"] is not None and state["owner"] != user.pk):
        return None
    units = state.get("seed_units")
    return RadioSession(**{**state, "seed_units": SeedUnits(**units) if units else None})


def advance(session, *, user, count=10):
    """The session's next `count` tracks, recorded as played (which renews its expiry)."""
    found = radio_for(session.parameters, user=user, played=session.played, count=count, seed_units=session.seed_units)
    session.expires_at = _expiry()
    _record(session, found)
    return found


def _record(session, found):
    session.played = (session.played + [r.track.pk for r in found.results])[-MAX_HISTORY:]
    session.seed_units = found.seed_units
    cache.set(_key(session.id), asdict(session), timeout=settings.MESS_RADIO_SESSION_SECONDS)


def _expiry():
    return datetime.now(timezone.utc) + timedelta(seconds=settings.MESS_RADIO_SESSION_SECONDS)


def _key(session_id):
    return f"radio-session:{session_id}"

"""One view for every /rest/ endpoint: parse, authenticate, throttle, dispatch, render."""

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse, HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from catalog.subsonic import annotation, browsing, media, playlists, searching, similarity, system
from catalog.subsonic.auth import authenticate_call
from catalog.subsonic.protocol import GENERIC, Params, SubsonicError, render, render_error
from messsite.throttling import AnonThrottle, UserThrottle

ENDPOINTS = {
    **system.ENDPOINTS,
    **browsing.ENDPOINTS,
    **searching.ENDPOINTS,
    **media.ENDPOINTS,
    **playlists.ENDPOINTS,
    **annotation.ENDPOINTS,
    **similarity.ENDPOINTS,
}
# Answered without credentials: a client asks what the server supports before signing in.
PUBLIC = {"getOpenSubsonicExtensions"}


@dataclass(frozen=True)
class Call:
    """What an endpoint function receives."""

    request: object
    params: Params
    user: object


METHODS = ("GET", "HEAD", "POST")


@csrf_exempt  # credentials travel in the parameters, never in a cookie
def endpoint(request, name):
    return _shared_across_origins(_answer(request, name.removesuffix(".view")))  # clients use both spellings


def _answer(request, name):
    params = Params(request)
    if request.method == "OPTIONS":  # a browser's preflight, before a player's form POST
        return HttpResponse(status=204)
    if request.method not in METHODS:
        response = render_error(params, SubsonicError(GENERIC, f"{request.method} is not used by the Subsonic API; "
                                                               "use GET or a form POST.", status=405))
        response["Allow"] = ", ".join(METHODS)
        return response
    function = ENDPOINTS.get(name)
    user, refusal = None, None
    if function is None:
        refusal = SubsonicError(GENERIC, f"MESS does not implement '{name[:64]}'; docs/subsonic.md lists what it "
                                         "does.", status=404)
    elif name not in PUBLIC:
        try:
            user = authenticate_call(request, params)
        except SubsonicError as error:
            refusal = error
    request.user = user if user is not None else AnonymousUser()  # a site cookie counts for nothing here
    throttled = _throttled(request, user)
    if throttled:
        return render_error(params, throttled)
    if refusal:
        return render_error(params, refusal)
    try:
        answer = function(Call(request, params, user))
    except SubsonicError as error:
        return render_error(params, error)
    return answer if isinstance(answer, HttpResponseBase) else render(params, answer)


def _shared_across_origins(response):
    """Players that run in a browser (Feishin's web build, Aonsoku, ...) are served from
    other origins. Any origin may read the answers: the credentials are in the parameters,
    which a page of another origin cannot know, and no cookie counts here."""
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Allow-Methods"] = ", ".join(METHODS)
    response["Access-Control-Allow-Headers"] = "Content-Type, Range"
    response["Access-Control-Expose-Headers"] = "Content-Length, Content-Range, Accept-Ranges, Retry-After, ETag"
    response["Access-Control-Max-Age"] = "86400"
    return response


def _throttled(request, user):
    """The API's rate limits (per user once signed in, else per address), as a refusal."""
    throttle = UserThrottle() if user is not None else AnonThrottle()
    if throttle.allow_request(request, None):
        return None
    wait = round(throttle.wait())
    return SubsonicError(GENERIC, f"Too many requests; try again in {wait} s.", status=429, retry_after=wait)

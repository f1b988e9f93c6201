"""ping, getLicense, getOpenSubsonicExtensions, tokenInfo, and the empty answers about what MESS keeps none of."""

from analysis.services import active_space

EXTENSIONS = [
    {"name": "apiKeyAuthentication", "versions": [1]},
    {"name": "formPost", "versions": [1]},
    {"name": "sonicSimilarity", "versions": [1]},
]


def ping(call):
    return {}


def get_license(call):
    return {"license": {"valid": True}}  # free software: nothing to license


def get_open_subsonic_extensions(call):
    # Players offer sonic features when advertised: not before there is a space to compare tracks in.
    sonic = active_space() is not None
    return {"openSubsonicExtensions": [e for e in EXTENSIONS if sonic or e["name"] != "sonicSimilarity"]}


def token_info(call):
    return {"tokenInfo": {"username": call.user.get_username()}}


def nothing_of(element):
    """An endpoint for what MESS keeps none of (podcasts, internet radio, bookmarks, shares):
    an empty answer, which players show as such, rather than an error they show as
    a failure (several ask for bookmarks and lyrics as a matter of course)."""
    return lambda call: {element: {}}


def no_lyrics(call):
    return {"lyrics": {"value": ""}}  # the lyrics element holds its text, required even when empty


ENDPOINTS = {
    "ping": ping,
    "getLicense": get_license,
    "getOpenSubsonicExtensions": get_open_subsonic_extensions,
    "tokenInfo": token_info,
    "getPodcasts": nothing_of("podcasts"),
    "getNewestPodcasts": nothing_of("newestPodcasts"),
    "getInternetRadioStations": nothing_of("internetRadioStations"),
    "getBookmarks": nothing_of("bookmarks"),
    "getShares": nothing_of("shares"),
    "getLyrics": no_lyrics,
}

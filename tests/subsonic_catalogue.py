"""A small catalogue for the /rest/ browsing and searching tests, and a call that checks
both formats."""

from types import SimpleNamespace

import pytest

from catalog.models import Track
from tests.factories import audio_bytes, make_dataset, make_track, make_user, tone
from tests.subsonic import api_key_for, assert_xml_conforms, ok, rest


def song(dataset, title, number, **tags):
    """A ready track with its own audio (a dataset holds each recording once)."""
    data = audio_bytes(tone(seconds=1.0, freq=200 + 37 * number))
    return make_track(dataset, data=data, title=title, status=Track.Status.READY, **tags)


@pytest.fixture
def catalogue():
    """Two datasets: albums by tag (one of two artists), a work with only its composer, a
    track with neither, performers beside composers, accents, and a failed track."""
    recordings, scores = make_dataset("Recordings"), make_dataset("Scores")
    dvorak = {"composer": "Antonín Dvořák", "performer": "Quartetto Ébène", "album": "American Quartet",
              "year": 2010, "genre": "Classical"}
    jazz = {"album": "The Sampler", "genre": "Jazz"}
    tracks = SimpleNamespace(
        allegro=song(recordings, "Allegro ma non troppo", 1, track_number=1, **dvorak),
        lento=song(recordings, "Lento", 2, track_number=2, **dvorak),
        finale=song(recordings, "Finale", 3, **dvorak),  # no number: after the numbered ones
        so_what=song(recordings, "So What", 4, performer="Miles Davis", year=1959, track_number=1, **jazz),
        blue=song(recordings, "Blue in Green", 5, performer="Bill Evans", year=1961, track_number=2, **jazz),
        freddie=song(recordings, "Freddie Freeloader", 6, performer="Miles Davis", album="Kind of Blue",
                     year=1959, genre="Jazz"),
        take_five=song(recordings, "Take Five", 7, performer="The Dave Brubeck Quartet"),
        prelude=song(scores, "Prelude in C", 8, composer="Johann Sebastian Bach", work="BWV 846",
                     genre="Baroque", track_number=1),
        fugue=song(scores, "Fugue in C", 9, composer="Johann Sebastian Bach", work="BWV 846",
                   genre="Baroque", track_number=2),
        untitled=song(scores, "Untitled", 10),
    )
    broken = song(recordings, "Broken", 11, performer="Miles Davis", album="The Sampler", genre="Jazz")
    Track.objects.filter(pk=broken.pk).update(status=Track.Status.FAILED, error="unreadable")
    user = make_user("ann")
    return SimpleNamespace(recordings=recordings, scores=scores, user=user, key=api_key_for(user), **vars(tracks))


def call(catalogue, name, **params):
    """The JSON body of endpoint `name`, after checking that its XML conforms too."""
    assert_xml_conforms(rest(name, catalogue.key, f=None, **params).content)
    return ok(rest(name, catalogue.key, **params), name)

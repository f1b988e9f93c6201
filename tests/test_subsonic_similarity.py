"""Similarity as a player asks for it: getSonicSimilarTracks, findSonicPath, getSimilarSongs(2),
getTopSongs; by aspect; in JSON (OpenSubsonic's schemas) and XML (the Subsonic XSD).

Tracks lie on a half circle, every 20 degrees from the seed ("0") to "160" (titles are their
angles). Timbre, the default aspect, is pinned to layer 0, where they lie in that order;
brightness to layer 1, where the order is reversed (the seed stays at 0, "20" lies at 160)."""

import itertools
from datetime import timedelta
from xml.etree import ElementTree

import numpy as np
import pytest
from django.utils import timezone

from catalog.models import Play, Track
from catalog.subsonic import similarity as sonic
from catalog.subsonic.library import VARIOUS_ARTISTS, album_of, artist_id
from recommendations.models import PinnedAspect
from tests.factories import make_dataset, make_user
from tests.subsonic import NS, api_key_for, assert_xml_conforms, failed, ok, rest
from tests.test_radio import add, unit
from tests.test_recommender import make_space, track

pytestmark = pytest.mark.django_db

ANGLES = range(0, 161, 20)


@pytest.fixture
def space():
    space = make_space("sonic", num_layers=2)
    for aspect, layer in (("timbre", 0), ("brightness", 1)):
        PinnedAspect.objects.create(space=space, aspect=aspect, layers={str(layer): 1})
    return space


@pytest.fixture
def dataset():
    return make_dataset("Sonic", slug="sonic")


def lay_half_circle(space, dataset, title=str, **fields):
    """{angle: track} of ANGLES, titled title(angle), at `angle` in layer 0 and at 180 - angle
    in layer 1 (the seed at 0 in both)."""
    return {angle: add(space, dataset, title(angle), [unit(angle), unit(180 - angle if angle else 0)], **fields)
            for angle in ANGLES}


@pytest.fixture
def half_circle(space, dataset):
    return lay_half_circle(space, dataset)


@pytest.fixture
def key():
    return api_key_for(make_user())


def closeness(degrees):
    """What MESS answers as the similarity of two tracks `degrees` apart on the half circle
    (in either layer the tracks lie every 20 degrees from 0 to 160): the share of its pairs
    of tracks further apart, those as far apart counting half (recommendations/calibration.py)."""
    apart = [abs(a - b) for a, b in itertools.combinations(ANGLES, 2)]
    return sum((distance > degrees) + (distance >= degrees) for distance in apart) / 2 / len(apart)


def matches(body):
    return [(int(m["entry"]["title"]), m["similarity"]) for m in body["sonicMatch"]]


def sonic_xml(response):
    """[(title, similarity)] of an XML sonicMatch answer, checked against the XSD: it knows no
    sonicMatch, so each one's entry is validated as a Child among the songs of a list it knows."""
    root = ElementTree.fromstring(response.content)
    found, songs = [], ElementTree.Element(f"{NS}songsByGenre")
    for match in root.findall(f"{NS}sonicMatch"):
        [entry] = list(match)
        assert entry.tag == f"{NS}entry"
        found.append((int(entry.get("title")), float(match.get("similarity"))))
        entry.tag = f"{NS}song"
        songs.append(entry)
        root.remove(match)
    root.append(songs)
    assert_xml_conforms(ElementTree.tostring(root))
    return found


def test_similar_tracks_come_most_similar_first_with_similarity_from_the_cosine(half_circle, key):
    body = ok(rest("getSonicSimilarTracks", key, id=half_circle[0].pk, count=5), "getSonicSimilarTracks")
    found = matches(body)
    assert [angle for angle, _ in found] == [20, 40, 60, 80, 100]  # never the song itself
    assert [s for _, s in found] == pytest.approx([closeness(angle) for angle, _ in found], abs=1e-4)
    assert all(0 <= s <= 1 for _, s in found) and [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    everything = matches(ok(rest("getSonicSimilarTracks", key, id=half_circle[0].pk, count=500)))
    assert len(everything) == len(ANGLES) - 1 and everything[-1] == (160, pytest.approx(closeness(160), abs=1e-4))
    assert sonic_xml(rest("getSonicSimilarTracks", key, f=None, id=half_circle[0].pk, count=5)) == \
        [(angle, pytest.approx(s, abs=1e-4)) for angle, s in found]


def test_the_default_count_is_ten_and_pages_of_the_recommender_join_up(half_circle, key, monkeypatch, space, dataset):
    for angle in range(5, 160, 20):
        add(space, dataset, str(angle), [unit(angle), unit(180 - angle)])
    assert len(matches(ok(rest("getSonicSimilarTracks", key, id=half_circle[0].pk)))) == 10
    whole = matches(ok(rest("getSonicSimilarTracks", key, id=half_circle[0].pk, count=14)))
    monkeypatch.setattr(sonic, "MAX_K", 3)  # read 14 in pages of 3
    assert matches(ok(rest("getSonicSimilarTracks", key, id=half_circle[0].pk, count=14))) == whole
    assert [angle for angle, _ in whole] == sorted(angle for angle, _ in whole)
    assert ok(rest("getSonicSimilarTracks", key, id=half_circle[0].pk, count=0))["sonicMatch"] == []


def test_an_aspect_changes_what_is_similar_and_an_unknown_one_names_the_known(half_circle, key):
    by_brightness = matches(ok(rest("getSonicSimilarTracks", key, id=half_circle[0].pk, count=3, aspect="brightness"),
                               "getSonicSimilarTracks"))
    assert [angle for angle, _ in by_brightness] == [160, 140, 120]
    assert by_brightness[0][1] == pytest.approx(closeness(20), abs=1e-4)
    error = failed(rest("getSonicSimilarTracks", key, id=half_circle[0].pk, aspect="loudness"), 0)
    assert "loudness" in error["message"] and "brightness" in error["message"] and "timbre" in error["message"]


def test_a_song_not_analysed_yet_gets_an_empty_answer(half_circle, key, dataset):
    pending = track(dataset, "not analysed")
    assert ok(rest("getSonicSimilarTracks", key, id=pending.pk), "getSonicSimilarTracks")["sonicMatch"] == []
    assert sonic_xml(rest("getSonicSimilarTracks", key, f=None, id=pending.pk)) == []
    assert ok(rest("findSonicPath", key, startSongId=half_circle[0].pk, endSongId=pending.pk),
              "findSonicPath")["sonicMatch"] == []
    assert ok(rest("getSimilarSongs2", key, id=pending.pk), "getSimilarSongs2")["similarSongs2"] == {"song": []}


def test_without_an_active_space_nothing_sonic_is_advertised_or_answered(key, dataset):
    alone = track(dataset, "alone")
    extensions = ok(rest("getOpenSubsonicExtensions"), "getOpenSubsonicExtensions")["openSubsonicExtensions"]
    assert "sonicSimilarity" not in {extension["name"] for extension in extensions}
    assert ok(rest("getSonicSimilarTracks", key, id=alone.pk))["sonicMatch"] == []
    make_space("active")
    extensions = ok(rest("getOpenSubsonicExtensions"))["openSubsonicExtensions"]
    assert "sonicSimilarity" in {extension["name"] for extension in extensions}


def test_similarity_refuses_missing_unknown_and_malformed_songs(half_circle, key, dataset):
    failed(rest("getSonicSimilarTracks", key), 10)
    failed(rest("getSonicSimilarTracks", key, id="99999999"), 70)
    failed(rest("getSonicSimilarTracks", key, id="al-nonsense"), 70)
    broken = track(dataset, "broken", status=Track.Status.FAILED)
    failed(rest("getSonicSimilarTracks", key, id=broken.pk), 70)
    failed(rest("findSonicPath", key, startSongId=half_circle[0].pk), 10)
    failed(rest("findSonicPath", key, startSongId=half_circle[0].pk, endSongId="x1"), 70)
    failed(rest("getSimilarSongs2", key), 10)
    failed(rest("getSimilarSongs", key, id="12345678"), 70)
    failed(rest("getTopSongs", key), 10)
    root = ElementTree.fromstring(rest("getSonicSimilarTracks", key, f=None, id="99999999").content)
    assert root.find(f"{NS}error").get("code") == "70"
    assert_xml_conforms(rest("findSonicPath", key, f=None, startSongId=half_circle[0].pk).content)


def test_a_path_starts_and_ends_with_its_songs_and_count_counts_both(half_circle, key):
    start, end = half_circle[0], half_circle[160]
    body = ok(rest("findSonicPath", key, startSongId=start.pk, endSongId=end.pk, count=5), "findSonicPath")
    path = matches(body)
    assert len(path) == 5 and path[0] == (0, 1.0) and path[-1] == (160, pytest.approx(closeness(160), abs=1e-4))
    middle = [angle for angle, _ in path[1:-1]]
    assert middle == [40, 80, 120]  # at the targets, a quarter of the way apart
    similarities = [s for _, s in path]
    assert similarities == sorted(similarities, reverse=True)  # moving away from the start
    assert similarities[1:-1] == pytest.approx([closeness(angle) for angle in middle], abs=1e-4)
    assert sonic_xml(rest("findSonicPath", key, f=None, startSongId=start.pk, endSongId=end.pk, count=5)) == \
        [(angle, pytest.approx(s, abs=1e-4)) for angle, s in path]
    assert len(matches(ok(rest("findSonicPath", key, startSongId=start.pk, endSongId=end.pk)))) == len(ANGLES)
    for count in (2, 1, -3):  # the ends, whatever the count
        assert matches(ok(rest("findSonicPath", key, startSongId=start.pk, endSongId=end.pk, count=count))) == \
            [(0, 1.0), (160, pytest.approx(closeness(160), abs=1e-4))]


def test_a_path_by_another_aspect_takes_another_way(half_circle, key):
    start, end = half_circle[0], half_circle[60]  # 120 degrees apart in layer 1
    path = matches(ok(rest("findSonicPath", key, startSongId=start.pk, endSongId=end.pk, count=4, aspect="brightness"),
                      "findSonicPath"))
    assert [angle for angle, _ in path] == [0, 140, 100, 60]  # at 40 and 80 degrees of layer 1
    assert path[-1][1] == pytest.approx(closeness(120), abs=1e-4)
    failed(rest("findSonicPath", key, startSongId=start.pk, endSongId=end.pk, aspect="nope"), 0)


def test_similar_songs_of_a_song_album_and_artist(half_circle, space, dataset, key, monkeypatch):
    songs = ok(rest("getSimilarSongs2", key, id=half_circle[0].pk, count=3), "getSimilarSongs2")["similarSongs2"]["song"]
    assert [song["title"] for song in songs] == ["20", "40", "60"]
    assert ok(rest("getSimilarSongs", key, id=half_circle[0].pk, count=3), "getSimilarSongs")["similarSongs"] == \
        {"song": songs}
    assert len(ok(rest("getSimilarSongs2", key, id=half_circle[0].pk))["similarSongs2"]["song"]) == len(ANGLES) - 1
    # An album's and an artist's seed is the mean direction of their tracks, their own tracks included.
    album = [add(space, dataset, f"album {angle}", unit(angle), album="Between") for angle in (50, 70)]
    by_album = ok(rest("getSimilarSongs2", key, id=album_of(album[0]).id, count=3))["similarSongs2"]["song"]
    assert by_album[0]["title"] == "60" and {song["title"] for song in by_album[1:]} == {"album 50", "album 70"}
    whole = ok(rest("getSimilarSongs2", key, id=album_of(album[0]).id, count=500))["similarSongs2"]["song"]
    monkeypatch.setattr(sonic, "MAX_K", 3)  # a group's answer reads the recommender's pages too
    assert ok(rest("getSimilarSongs2", key, id=album_of(album[0]).id, count=500))["similarSongs2"]["song"] == whole
    assert len(whole) == len(ANGLES) + 2
    monkeypatch.undo()
    for angle in (130, 150):
        add(space, dataset, f"quartet {angle}", unit(angle), performer="Quartet")
    by_artist = ok(rest("getSimilarSongs", key, id=artist_id("Quartet"), count=3))["similarSongs"]["song"]
    assert by_artist[0]["title"] == "140" and {song["title"] for song in by_artist[1:]} == {"quartet 130", "quartet 150"}
    add(space, dataset, "duet", unit(10), album="Between", performer="Duo")  # now of Various Artists
    assert ok(rest("getSimilarSongs2", key, id=artist_id(VARIOUS_ARTISTS)))["similarSongs2"] == {"song": []}
    failed(rest("getSimilarSongs2", key, id=artist_id("Nobody")), 70)
    failed(rest("getSimilarSongs2", key, id="al-!!"), 70)
    for name in ("getSimilarSongs", "getSimilarSongs2"):
        assert_xml_conforms(rest(name, key, f=None, id=album_of(album[0]).id).content)


def test_top_songs_are_the_artists_most_played_by_the_caller_then_by_title(dataset, key):
    user, other = make_user("ann"), make_user("bob")
    tracks = {title: track(dataset, title, performer="Trio") for title in ("B", "A", "C", "D")}
    track(dataset, "elsewhere", performer="Duo")
    now = timezone.now()
    for who, title, times in ((user, "C", 2), (other, "C", 1), (other, "D", 2)):
        for i in range(times):
            Play.objects.create(user=who, track=tracks[title], played_at=now - timedelta(minutes=i))
    body = ok(rest("getTopSongs", api_key_for(user), artist="trio"), "getTopSongs")
    assert [song["title"] for song in body["topSongs"]["song"]] == ["C", "A", "B", "D"]  # not bob's D
    assert [song["playCount"] for song in body["topSongs"]["song"]] == [2, 0, 0, 0]
    bobs = ok(rest("getTopSongs", api_key_for(other), artist="Trio", count=2))["topSongs"]["song"]
    assert [song["title"] for song in bobs] == ["D", "C"]
    assert ok(rest("getTopSongs", key, artist="Nobody"), "getTopSongs")["topSongs"] == {"song": []}
    assert_xml_conforms(rest("getTopSongs", key, f=None, artist="Trio").content)


def test_similarity_is_the_scores_closeness_among_the_spaces_pairs():
    pairs = np.array([-0.5, 0.0, 0.5, 0.9], dtype=np.float32)
    assert [sonic.similarity(score, pairs) for score in (1.0, 0.9, 0.5, 0.2, -0.9)] == [1.0, 0.875, 0.625, 0.5, 0.0]
    # Without two analysed tracks there is nothing to measure by: the cosine, mapped onto [0, 1].
    assert [sonic.similarity(score, pairs[:0]) for score in (1.0, 0.0, -1.0, 1.0000002)] == [1.0, 0.5, 0.0, 1.0]


def test_a_track_that_failed_since_it_was_analysed_is_no_song(half_circle, key):
    Track.objects.filter(pk=half_circle[20].pk).update(status=Track.Status.FAILED)
    assert [angle for angle, _ in matches(ok(rest("getSonicSimilarTracks", key, id=half_circle[0].pk, count=2)))] == \
        [40, 60]
    songs = ok(rest("getSimilarSongs2", key, id=half_circle[0].pk, count=2))["similarSongs2"]["song"]
    assert [song["title"] for song in songs] == ["40", "60"]
    by_artist = ok(rest("getSimilarSongs2", key, id=artist_id("40"), count=2))["similarSongs2"]["song"]
    assert [song["title"] for song in by_artist] == ["40", "60"]  # "20" is as near as "60", and older


def test_similar_artists_are_those_of_the_songs_that_sound_like_the_artists_own(space, dataset, key):
    # Each artist plays two tracks near one angle: Ann near 0, Bob near 40, Cy near 100, Di near 160.
    for name, angle in (("Ann", 0), ("Bob", 40), ("Cy", 100), ("Di", 160)):
        for offset in (-5, 5):
            add(space, dataset, f"{name} {angle + offset}", unit(angle + offset), performer=name, album=name)
    info = ok(rest("getArtistInfo2", key, id=artist_id("Ann")), "getArtistInfo2")["artistInfo2"]
    assert [artist["name"] for artist in info["similarArtist"]] == ["Bob", "Cy", "Di"]
    assert info["similarArtist"][0] == {"id": artist_id("Bob"), "name": "Bob", "coverArt": artist_id("Bob"),
                                        "albumCount": 1}
    nearest = ok(rest("getArtistInfo", key, id=artist_id("Di"), count=1), "getArtistInfo")["artistInfo"]
    assert nearest["similarArtist"] == [{"id": artist_id("Cy"), "name": "Cy"}]
    assert_xml_conforms(rest("getArtistInfo2", key, f=None, id=artist_id("Ann")).content)
    assert_xml_conforms(rest("getArtistInfo", key, f=None, id=artist_id("Ann")).content)
    failed(rest("getArtistInfo2", key, id=artist_id("Nobody")), 70)
    failed(rest("getArtistInfo2", key), 10)


def test_album_info_is_empty_but_answers_for_a_known_album(half_circle, key):
    assert ok(rest("getAlbumInfo2", key, id=album_of(half_circle[0]).id), "getAlbumInfo")["albumInfo"] == {}
    assert_xml_conforms(rest("getAlbumInfo", key, f=None, id=album_of(half_circle[0]).id).content)
    failed(rest("getAlbumInfo2", key, id="al-nothing"), 70)

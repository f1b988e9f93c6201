"""Curators' own collections (issue 15): descriptive fields from the files' embedded tags
and from a sidecar at intake, and edited afterwards in the API, the track page and the admin."""

import csv
import json
from io import StringIO

import pytest
import soundfile as sf
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TALB, TCOM, TCON, TDRC, TIT1, TIT2, TPE1, TRCK, TXXX
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE
from rest_framework.test import APIClient

from catalog.importers import find_entries, run_import
from catalog.intake import ingest_path, ingest_upload
from catalog.models import Track
from tests.factories import audio_bytes, make_dataset, make_track, make_user, token_for, tone, write_audio

pytestmark = pytest.mark.django_db

# What every tagged file below says, as the track's fields.
TAGGED = {
    "title": "Nocturne in E-flat",
    "composer": "Frédéric Chopin",
    "work": "Op. 9 No. 2",
    "performer": "Maria João Pires",
    "album": "Nocturnes",
    "year": 1996,
    "genre": "Classical",
    "track_number": 2,
}


def id3_frames(work_frame=TXXX):
    if work_frame is TXXX:
        work = TXXX(encoding=3, desc="WORK", text=TAGGED["work"])
    else:
        work = TIT1(encoding=3, text=TAGGED["work"])
    return [
        TIT2(encoding=3, text=TAGGED["title"]), TCOM(encoding=3, text=TAGGED["composer"]), work,
        TPE1(encoding=3, text=TAGGED["performer"]), TALB(encoding=3, text=TAGGED["album"]),
        TDRC(encoding=3, text="1996-10-01"), TCON(encoding=3, text="(32)"),  # ID3v1 genre 32: Classical
        TRCK(encoding=3, text="2/21"),
    ]  # fmt: skip


def tag_mp3(path, work_frame=TXXX):
    tags = ID3()
    for frame in id3_frames(work_frame):
        tags.add(frame)
    tags.save(path)


def tag_riff_or_aiff(opener):
    def tag(path):
        audio = opener(path)
        audio.add_tags()
        for frame in id3_frames():
            audio.tags.add(frame)
        audio.save()

    return tag


def tag_vorbis(opener):
    def tag(path):
        audio = opener(path)
        audio.update({
            "title": TAGGED["title"], "composer": TAGGED["composer"], "work": TAGGED["work"],
            "artist": TAGGED["performer"], "album": TAGGED["album"], "date": "1996",
            "genre": TAGGED["genre"], "tracknumber": "2",
        })  # fmt: skip
        audio.save()

    return tag


TAGGERS = {
    # name: (libsndfile format, subtype, suffix, how the tags get in)
    "MP3 with ID3": ("MP3", None, "mp3", tag_mp3),
    "MP3 with the work in TIT1": ("MP3", None, "mp3", lambda path: tag_mp3(path, TIT1)),
    "FLAC with Vorbis comments": ("FLAC", "PCM_24", "flac", tag_vorbis(FLAC)),
    "Ogg Vorbis": ("OGG", "VORBIS", "ogg", tag_vorbis(OggVorbis)),
    "Opus": ("OGG", "OPUS", "opus", tag_vorbis(OggOpus)),
    "WAV with an ID3 chunk": ("WAVEX", "PCM_24", "wav", tag_riff_or_aiff(WAVE)),
    "AIFF with an ID3 chunk": ("AIFF", "PCM_16", "aiff", tag_riff_or_aiff(AIFF)),
}


def tagged_file(path, tagger, freq=440.0):
    fmt, subtype, _, tag = TAGGERS[tagger]
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(seconds=2.0, freq=freq, sample_rate=48000), 48000, format=fmt, subtype=subtype)
    tag(path)
    return path


# --- Tags at intake -----------------------------------------------------------------------


@pytest.mark.parametrize("tagger", TAGGERS)
def test_an_upload_takes_its_fields_from_the_embedded_tags(tagger, tmp_path):
    path = tagged_file(tmp_path / f"take.{TAGGERS[tagger][2]}", tagger)

    track = ingest_upload(make_dataset(), SimpleUploadedFile("take.bin", path.read_bytes()))

    assert {name: getattr(track, name) for name in TAGGED} == TAGGED


def test_fields_given_with_the_upload_win_over_the_tags(tmp_path):
    path = tagged_file(tmp_path / "take.flac", "FLAC with Vorbis comments")

    track = ingest_path(make_dataset(), path, composer="Chopin, F.", year=2001, title="")

    assert (track.composer, track.year, track.title, track.album) == ("Chopin, F.", 2001, TAGGED["title"], "Nocturnes")


def test_values_that_do_not_fit_are_cut_or_left_out(tmp_path):
    path = write_audio(tmp_path / "odd.flac", tone())
    audio = FLAC(path)
    audio.update({"title": "x" * 400, "date": "sometime", "tracknumber": "0/12", "genre": "  ", "album": "A\u00e9"})
    audio.save()

    track = ingest_path(make_dataset(), path)

    assert track.title == "x" * 300
    assert (track.year, track.track_number, track.genre, track.album) == (None, None, "", "A\u00e9")


def test_unreadable_tags_leave_the_file_imported_as_untagged(tmp_path):
    path = tagged_file(tmp_path / "broken-tags.wav", "WAV with an ID3 chunk")
    data = bytearray(path.read_bytes())
    chunk = data.find(b"id3 ") + 8
    data[chunk : chunk + 10] = b"ID3\x04\x00\x00\xff\xff\xff\xff"  # a tag size that is no size
    path.write_bytes(bytes(data))

    track = ingest_path(make_dataset(), path)

    assert (track.title, track.composer, track.format) == ("broken-tags", "", "WAV")


def test_a_folder_import_is_described_by_the_tags_else_titled_by_the_name(tmp_path):
    root = tmp_path / "library"
    tagged_file(root / "cd1" / "02.mp3", "MP3 with ID3")
    write_audio(root / "untagged take.wav", tone(freq=300))

    summary = run_import(make_dataset("Library"), find_entries("folder", root), root=root)

    assert (summary.imported, summary.failed) == (2, [])
    tracks = {t.external_id: t for t in Track.objects.all()}
    assert (tracks["cd1/02.mp3"].title, tracks["cd1/02.mp3"].composer) == (TAGGED["title"], TAGGED["composer"])
    assert (tracks["untagged take.wav"].title, tracks["untagged take.wav"].composer) == ("untagged take", "")


# --- Sidecar ------------------------------------------------------------------------------


@pytest.fixture
def library(tmp_path):
    root = tmp_path / "library"
    tagged_file(root / "a.flac", "FLAC with Vorbis comments", freq=220)
    write_audio(root / "sub" / "b.wav", tone(freq=330))
    write_audio(root / "c.ogg", tone(freq=440))
    return root


def run_command(*args):
    out = StringIO()
    call_command("import_dataset", *args, stdout=out, stderr=StringIO())
    return out.getvalue().splitlines()


def tracks_by_file():
    return {t.external_id: t for t in Track.objects.all()}


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def test_a_csv_sidecar_describes_files_and_reports_each_row_it_cannot_use(library):
    write_csv(library / "mess-metadata.csv", [
        ["file", "composer", "year", "track_number"],
        ["a.flac", "Chopin, Frédéric", "", ""],   # line 2: wins over the tag; blanks leave the tags
        ["sub\\b.wav", "Ravel", "1901", "3"],      # line 3: Windows separators name the same file
        ["c.ogg", "Debussy", "soon", ""],          # line 4: refused, c.ogg imported untouched
        ["missing.wav", "Satie", "", ""],          # line 5: no such file
        ["a.flac", "Liszt", "", ""],               # line 6: a.flac again
    ])  # fmt: skip

    lines = run_command("folder", str(library))

    assert lines[0] == "library: 3 imported, 0 skipped, 0 failed."
    assert lines[1] == "mess-metadata.csv: 2 row(s) applied, 3 not used."
    assert lines[2].startswith("  not used, line 4: year: ") and "“soon”" in lines[2]
    assert lines[3:] == [
        "  not used, line 5: no audio file missing.wav in this import",
        "  not used, line 6: a.flac is described by line 2 already",
    ]
    tracks = tracks_by_file()
    assert (tracks["a.flac"].composer, tracks["a.flac"].year, tracks["a.flac"].title) == (
        "Chopin, Frédéric", 1996, TAGGED["title"]
    )
    ravel = tracks["sub/b.wav"]
    assert (ravel.composer, ravel.year, ravel.track_number) == ("Ravel", 1901, 3)
    assert (tracks["c.ogg"].composer, tracks["c.ogg"].year) == ("", None)


def test_a_json_sidecar_named_on_the_command_line_is_used(library, tmp_path):
    sidecar = tmp_path / "described.json"
    sidecar.write_text(json.dumps([
        {"file": "sub/b.wav", "title": "Jeux d'eau", "year": 1901, "genre": None},
        {"file": "c.ogg", "track_number": 0},
        {"file": "a.flac", "artist": "Pires"},
        ["c.ogg"],
    ]), encoding="utf-8")  # fmt: skip

    lines = run_command("folder", str(library), "--metadata", str(sidecar))

    assert lines[1:] == [
        "described.json: 1 row(s) applied, 3 not used.",
        "  not used, entry 2: track_number: Ensure this value is greater than or equal to 1.",
        "  not used, entry 3: unknown key artist (known: file, title, composer, work, performer, album, year, genre, "
        "track_number)",
        "  not used, entry 4: not an object with a `file` key",
    ]
    tracks = tracks_by_file()
    assert (tracks["sub/b.wav"].title, tracks["sub/b.wav"].year) == ("Jeux d'eau", 1901)
    assert tracks["c.ogg"].track_number is None


def test_a_sidecar_with_an_unknown_column_stops_the_import_before_it_starts(library):
    write_csv(library / "mess-metadata.csv", [["file", "compser"], ["a.flac", "Chopin"]])

    with pytest.raises(CommandError, match="its header must name `file` and any of .*; it is: file, compser."):
        run_command("folder", str(library))

    assert not Track.objects.exists()


# --- Editing: API -------------------------------------------------------------------------


def api_client(user=None):
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


def patch(client, track, body):
    return client.patch(f"/api/v1/tracks/{track.pk}/", body, format="json")


def test_a_curator_edits_the_descriptive_fields_and_nothing_else():
    track = make_track(title="Track 02", composer="Unknown")
    curator = api_client(make_user("curator", staff=True, curator=True))

    response = patch(curator, track, {**TAGGED, "format": "MP3", "duration": 1.0})

    assert response.status_code == 200, response.content
    assert {name: response.json()[name] for name in TAGGED} == TAGGED
    track.refresh_from_db()
    assert {name: getattr(track, name) for name in TAGGED} == TAGGED
    assert (track.format, track.duration) == ("WAV", pytest.approx(2.0))

    as_form = curator.patch(f"/api/v1/tracks/{track.pk}/", {"title": "x"}, format="multipart")
    assert as_form.status_code == 415

    cleared = patch(curator, track, {"year": None, "album": ""})
    assert (cleared.json()["year"], cleared.json()["album"], cleared.json()["title"]) == (None, "", TAGGED["title"])


@pytest.mark.parametrize(
    "body, field",
    [({"title": ""}, "title"), ({"year": 0}, "year"), ({"year": "1996"}, "year"), ({"year": 1996.5}, "year"),
     ({"track_number": 0}, "track_number"), ({"track_number": True}, "track_number"),
     ({"genre": "g" * 101}, "genre"), ({"genre": 0}, "genre")],
)  # fmt: skip
def test_invalid_edits_are_refused_field_by_field(body, field):
    track = make_track(title="Prelude")

    response = patch(api_client(make_user("curator", staff=True, curator=True)), track, body)

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]
    track.refresh_from_db()
    assert (track.title, track.year, track.genre) == ("Prelude", None, "")


@pytest.mark.parametrize("who, status", [("anonymous", 401), ("listener", 403), ("staff", 403)])
def test_only_curators_may_edit(who, status):
    track = make_track(title="Prelude")
    user = None if who == "anonymous" else make_user(who, staff=who == "staff")

    response = patch(api_client(user), track, {"title": "Mine"})

    assert response.status_code == status
    track.refresh_from_db()
    assert track.title == "Prelude"


def test_the_schema_documents_the_editable_fields():
    schema = APIClient().get("/api/v1/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/tracks/{id}/"]["patch"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    properties = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]
    assert sorted(properties) == sorted(TAGGED)
    assert properties["year"]["nullable"] and properties["year"]["minimum"] == 1
    assert {"200", "400", "401", "403", "404"} <= set(operation["responses"])
    assert list(operation["requestBody"]["content"]) == ["application/json"]
    assert "put" not in schema["paths"]["/api/v1/tracks/{id}/"]


# --- Editing: track page and admin ------------------------------------------------------


def test_a_curator_edits_on_the_track_page(client):
    track = make_track(title="Track 02")
    client.force_login(make_user("curator", staff=True, curator=True))

    page = client.get(track.get_absolute_url())
    assert '<label for="edit-album">Album:</label>' in page.text

    saved = client.post(track.get_absolute_url(), {**TAGGED, "year": "1996", "track_number": "2"}, follow=True)
    assert saved.redirect_chain == [(track.get_absolute_url(), 302)]
    assert "The track&#x27;s details are saved." in saved.text
    track.refresh_from_db()
    assert {name: getattr(track, name) for name in TAGGED} == TAGGED
    assert "<dt>Album</dt><dd>Nocturnes, track 2</dd>" in saved.text


def test_a_refused_edit_shows_why_and_changes_nothing(client):
    track = make_track(title="Track 02")
    client.force_login(make_user("curator", staff=True, curator=True))

    response = client.post(track.get_absolute_url(), {"title": "", "year": "MCMXCVI"})

    assert response.status_code == 400
    assert set(response.context["edit_form"].errors) == {"title", "year"}
    assert "<details open>" in response.text and "<h1>Track 02</h1>" in response.text
    track.refresh_from_db()
    assert (track.title, track.year) == ("Track 02", None)


@pytest.mark.parametrize("who", ["anonymous", "listener"])
def test_others_see_no_form_and_may_not_post_one(client, who):
    track = make_track(title="Track 02")
    if who == "listener":
        client.force_login(make_user("listener"))

    assert 'id="edit-heading"' not in client.get(track.get_absolute_url()).text
    assert client.post(track.get_absolute_url(), {"title": "Mine"}).status_code == 403
    track.refresh_from_db()
    assert track.title == "Track 02"


def test_the_admin_edits_the_new_fields(client):
    track = make_track(title="Track 02")
    client.force_login(make_user("curator", staff=True, curator=True))

    response = client.post(
        f"/admin/catalog/track/{track.pk}/change/",
        {"dataset": track.dataset.pk, "title": "Nocturne", "album": "Nocturnes", "year": "1996",
         "genre": "Classical", "track_number": "2", "metadata": "{}"},
    )  # fmt: skip

    assert response.status_code == 302, response.context["adminform"].form.errors
    track.refresh_from_db()
    assert (track.album, track.year, track.genre, track.track_number) == ("Nocturnes", 1996, "Classical", 2)


def test_uploads_through_the_api_take_the_new_fields():
    response = api_client(make_user("curator", staff=True, curator=True)).post(
        "/api/v1/tracks/",
        {"file": SimpleUploadedFile("t.wav", audio_bytes()), "dataset": make_dataset().slug,
         "album": "Live", "year": "2020", "track_number": "4"},
        format="multipart",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    assert (response.json()["album"], response.json()["year"], response.json()["track_number"]) == ("Live", 2020, 4)

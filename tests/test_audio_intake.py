"""Audio validation and intake: what gets into the catalogue, what is refused, and that
a refusal leaves nothing behind."""

import hashlib
import io
import tempfile

import pytest
import soundfile as sf
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile

from catalog import intake
from catalog.audio import ACCEPTED_FORMATS, AudioRejected, probe
from catalog.intake import DuplicateTrack, delete_track, ingest_path, ingest_upload
from catalog.models import Track
from tests.factories import audio_bytes, make_dataset, tone

pytestmark = pytest.mark.django_db


def files_under(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file())


def temporary_upload(name, data):
    """An upload as Django spools it to disk when it is larger than the memory limit."""
    upload = TemporaryUploadedFile(name, "application/octet-stream", len(data), None)
    upload.write(data)
    upload.seek(0)
    return upload


@pytest.fixture
def dataset():
    return make_dataset("Uploads")


@pytest.fixture(autouse=True)
def upload_tempdir(tmp_path, monkeypatch):
    """Our own temp folder, so a test can see whether intake left temp files behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# --- Refusals ---------------------------------------------------------------------------

BAD_INPUTS = {
    # case: (file name, bytes, expected code, words the message must contain, settings)
    "zero-byte": ("silence.wav", lambda: b"", "empty", ["silence.wav", "0 bytes"], {}),
    "text named .wav": (
        "notes.wav", lambda: b"Track list:\n1. Prelude\n2. Fugue\n", "not_audio", ["notes.wav", "text"], {}
    ),
    "pdf named .mp3": (
        "score.mp3", lambda: b"%PDF-1.7\n" + bytes(range(256)) * 8, "not_audio", ["score.mp3", "PDF"], {}
    ),
    "truncated wav": ("cut.wav", lambda: audio_bytes()[:40_000], "corrupt", ["cut.wav", "truncated", "88200"], {}),
    "truncated flac": ("cut.flac", lambda: audio_bytes(fmt="FLAC")[:10_000], "corrupt", ["cut.flac", "damaged or truncated near the end"], {}),
    "sun au": ("take.au", lambda: audio_bytes(fmt="AU"), "unsupported_format", ["take.au", "AU", "AIFF", "FLAC"], {}),
    "0.5 s": ("blip.wav", lambda: audio_bytes(tone(seconds=0.5)), "too_short", ["blip.wav", "0.5 s", "1 s"], {}),
    "over max duration": (
        "long.wav", audio_bytes, "too_long", ["long.wav", "2 s", "1.5 s"], {"MESS_MAX_DURATION_SECONDS": 1.5}
    ),
    "over size limit": (
        "big.wav", audio_bytes, "too_large", ["big.wav", "86.2 KB", "50.0 KB"], {"MESS_MAX_UPLOAD_BYTES": 50 * 1024}
    ),
}


def upload_in_memory(dataset, tmp_path, name, data):
    return ingest_upload(dataset, SimpleUploadedFile(name, data))


def upload_on_disk(dataset, tmp_path, name, data):
    # Django removes its own temp file when the request closes the upload.
    with temporary_upload(name, data) as upload:
        return ingest_upload(dataset, upload)


def import_copy(dataset, tmp_path, name, data):
    path = tmp_path / "incoming" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return ingest_path(dataset, path)


@pytest.mark.parametrize("ingest", [upload_in_memory, upload_on_disk, import_copy])
@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_refused_with_its_reason_and_leaves_nothing(
    case, ingest, dataset, tmp_path, settings, _isolated_media, upload_tempdir
):
    name, make_bytes, code, words, limits = BAD_INPUTS[case]
    for setting, value in limits.items():
        setattr(settings, setting, value)

    with pytest.raises(AudioRejected) as refused:
        ingest(dataset, tmp_path, name, make_bytes())

    assert refused.value.code == code
    assert str(refused.value) == refused.value.message
    for word in words:
        assert word in refused.value.message
    assert not Track.objects.exists()
    assert files_under(_isolated_media) == []
    assert files_under(upload_tempdir) == []


def test_messages_read_as_sentences_for_curators(tmp_path):
    path = tmp_path / "blip.wav"
    path.write_bytes(audio_bytes(tone(seconds=0.4)))
    with pytest.raises(AudioRejected) as refused:
        probe(path)
    assert refused.value.message == "blip.wav is 0.4 s long; tracks must be at least 1 s."


def test_html_page_saved_under_an_audio_name_is_named_as_such(tmp_path):
    path = tmp_path / "download.mp3"
    path.write_bytes(b"<!DOCTYPE html>\n<html><body>Access denied</body></html>\n")
    with pytest.raises(AudioRejected) as refused:
        probe(path)
    assert refused.value.code == "not_audio"
    assert "HTML page" in refused.value.message


@pytest.mark.parametrize("fmt", ["OGG", "MP3"])
@pytest.mark.parametrize("kept", [0.5, 0.9])
def test_truncated_compressed_audio_is_corrupt(tmp_path, fmt, kept):
    data = audio_bytes(fmt=fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: int(len(data) * kept)])
    with pytest.raises(AudioRejected) as refused:
        probe(path)
    assert refused.value.code == "corrupt"
    assert refused.value.message.startswith(f"cut.{fmt.lower()} ")


# --- Accepted audio ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG", "MP3"])
@pytest.mark.parametrize("channels", [1, 2])
def test_accepted_formats_become_pending_tracks_stored_by_content(fmt, channels, dataset, _isolated_media):
    data = audio_bytes(tone(seconds=2.0, channels=channels), sample_rate=22050, fmt=fmt)
    ext = fmt.lower()

    track = ingest_upload(dataset, SimpleUploadedFile(f"Prelude in C.{ext}", data), composer="Bach")

    sha = hashlib.sha256(data).hexdigest()
    assert track.status == Track.Status.PENDING
    assert (track.title, track.composer, track.format) == ("Prelude in C", "Bach", fmt)
    assert track.duration == pytest.approx(2.0, abs=0.05)
    assert (track.sample_rate, track.channels, track.size_bytes) == (22050, channels, len(data))
    assert track.sha256 == sha
    assert track.audio_path == f"audio/{sha[:2]}/{sha}.{ext}"
    assert track.metadata["original_name"] == f"Prelude in C.{ext}"
    assert files_under(_isolated_media) == [_isolated_media / track.audio_path]
    assert (_isolated_media / track.audio_path).read_bytes() == data


# What sox, DAWs and editors write beyond 16-bit PCM: (libsndfile format, subtype) ->
# (the format MESS records, the stored file's extension).
HIGH_RESOLUTION = {
    ("WAVEX", "PCM_24"): ("WAV", "wav"),  # WAVE_FORMAT_EXTENSIBLE
    ("WAVEX", "FLOAT"): ("WAV", "wav"),
    ("WAV", "FLOAT"): ("WAV", "wav"),
    ("WAV", "PCM_32"): ("WAV", "wav"),
    ("AIFF", "PCM_24"): ("AIFF", "aiff"),
    ("AIFF", "FLOAT"): ("AIFF", "aiff"),  # written as AIFF-C
    ("FLAC", "PCM_24"): ("FLAC", "flac"),
    ("OGG", "OPUS"): ("OGG", "ogg"),
}


@pytest.mark.parametrize("fmt, subtype", HIGH_RESOLUTION)
def test_every_common_wav_aiff_and_flac_coding_is_accepted(fmt, subtype, dataset, client):
    buffer = io.BytesIO()
    sf.write(buffer, tone(seconds=2.0, sample_rate=48000, channels=2), 48000, format=fmt, subtype=subtype)

    track = ingest_upload(dataset, SimpleUploadedFile("take", buffer.getvalue()))

    recorded, extension = HIGH_RESOLUTION[fmt, subtype]
    assert (track.format, track.sample_rate, track.channels) == (recorded, 48000, 2)
    assert track.duration == pytest.approx(2.0, abs=0.01)
    assert track.audio_path.endswith(f".{extension}")
    assert client.get(f"/tracks/{track.pk}/audio")["Content-Type"] == ACCEPTED_FORMATS[recorded]


def test_a_truncated_extensible_wav_is_refused_as_truncated(dataset):
    buffer = io.BytesIO()
    sf.write(buffer, tone(seconds=2.0), 22050, format="WAVEX", subtype="PCM_24")

    with pytest.raises(AudioRejected, match="cut.wav is truncated: its header declares 132300 bytes"):
        ingest_upload(dataset, SimpleUploadedFile("cut.wav", buffer.getvalue()[:60_000]))


def test_upload_spooled_to_disk_is_accepted(dataset, upload_tempdir):
    track = ingest_upload(dataset, temporary_upload("fugue.flac", audio_bytes(fmt="FLAC")), work="BWV 846")
    assert (track.title, track.work, track.format) == ("fugue", "BWV 846", "FLAC")


def test_stored_format_follows_the_bytes_not_the_name(dataset):
    track = ingest_upload(dataset, SimpleUploadedFile("misnamed.wav", audio_bytes(fmt="FLAC")))
    assert track.format == "FLAC"
    assert track.audio_path.endswith(".flac")


def test_unknown_track_fields_are_refused(dataset):
    with pytest.raises(TypeError, match="audio_path"):
        ingest_upload(dataset, SimpleUploadedFile("a.wav", audio_bytes()), audio_path="/etc/passwd")


# --- Duplicates and shared bytes ---------------------------------------------------------


def test_same_audio_twice_in_a_dataset_is_a_duplicate(dataset, _isolated_media):
    data = audio_bytes()
    first = ingest_upload(dataset, SimpleUploadedFile("take1.wav", data), title="Take one")

    with pytest.raises(DuplicateTrack) as duplicate:
        ingest_upload(dataset, SimpleUploadedFile("take1-copy.wav", data))

    assert duplicate.value.existing == first
    assert "take1-copy.wav" in str(duplicate.value)
    assert "Take one" in str(duplicate.value)
    assert Track.objects.count() == 1
    assert len(files_under(_isolated_media)) == 1


def test_same_audio_in_two_datasets_is_stored_once(dataset, _isolated_media):
    data = audio_bytes()
    first = ingest_upload(dataset, SimpleUploadedFile("a.wav", data))
    second = ingest_upload(make_dataset("Other"), SimpleUploadedFile("b.wav", data))

    assert first.pk != second.pk
    assert first.audio_path == second.audio_path
    assert files_under(_isolated_media) == [_isolated_media / first.audio_path]


def test_insert_race_on_the_same_audio_becomes_a_duplicate(dataset, monkeypatch, _isolated_media):
    """Another request commits the same bytes between our duplicate check and our insert."""
    data = audio_bytes()
    real_store = intake._store
    competitor = {}

    def store_then_lose_the_race(path, sha, fmt):
        stored = real_store(path, sha, fmt)
        competitor["track"] = Track.objects.create(
            dataset=dataset, title="Winner", audio_root="/srv/audio", audio_path="winner.wav", sha256=sha,
            duration=2, sample_rate=22050, channels=1, format="WAV", size_bytes=len(data),
        )
        return stored

    monkeypatch.setattr(intake, "_store", store_then_lose_the_race)
    with pytest.raises(DuplicateTrack) as duplicate:
        ingest_upload(dataset, SimpleUploadedFile("loser.wav", data))

    assert duplicate.value.existing == competitor["track"]
    assert files_under(_isolated_media) == []  # the copy we had just saved is gone


def test_failure_after_storing_removes_only_the_newly_stored_file(dataset, monkeypatch, _isolated_media):
    shared = audio_bytes(tone(freq=440))
    kept = ingest_upload(make_dataset("Other"), SimpleUploadedFile("shared.wav", shared))

    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(intake, "_create_track", fail)
    for name, data in (("new.wav", audio_bytes(tone(freq=330))), ("shared.wav", shared)):
        with pytest.raises(RuntimeError):
            ingest_upload(dataset, SimpleUploadedFile(name, data))

    assert not dataset.tracks.exists()
    assert files_under(_isolated_media) == [_isolated_media / kept.audio_path]


# --- Deleting ------------------------------------------------------------------------------


def test_delete_track_keeps_files_other_tracks_share(dataset, _isolated_media, django_capture_on_commit_callbacks):
    data = audio_bytes()
    first = ingest_upload(dataset, SimpleUploadedFile("a.wav", data))
    second = ingest_upload(make_dataset("Other"), SimpleUploadedFile("a.wav", data))
    stored = _isolated_media / first.audio_path

    with django_capture_on_commit_callbacks(execute=True):
        delete_track(first)
    assert not Track.objects.filter(pk=first.pk).exists()
    assert stored.exists()

    with django_capture_on_commit_callbacks(execute=True):
        delete_track(second)
    assert not Track.objects.exists()
    assert files_under(_isolated_media) == []


# --- In place ------------------------------------------------------------------------------


def test_in_place_reference_stores_nothing_and_delete_keeps_the_file(
    dataset, tmp_path, _isolated_media, django_capture_on_commit_callbacks
):
    library = tmp_path / "library"
    source = library / "Chopin" / "nocturne.ogg"
    source.parent.mkdir(parents=True)
    source.write_bytes(audio_bytes(fmt="OGG"))

    track = ingest_path(dataset, source, copy=False, root=library)

    assert (track.audio_root, track.audio_path) == (str(library), "Chopin/nocturne.ogg")
    assert track.composer == ""  # never guessed from the folder
    assert files_under(_isolated_media) == []
    with track.storage.open(track.audio_path) as f:
        assert f.read() == source.read_bytes()

    with django_capture_on_commit_callbacks(execute=True):
        delete_track(track)
    assert source.exists()

"""Dataset importers on generated SMD-, MAESTRO- and folder-shaped trees, and the command."""

import csv
import json
from io import StringIO

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from catalog.importers import DatasetImportError, find_entries, parse_smd_name, run_import
from catalog.intake import delete_track
from catalog.models import Dataset, Track
from tests.factories import audio_bytes, make_dataset, tone, write_audio, write_midi

pytestmark = pytest.mark.django_db

SMD_NAMES = [
    "Bach_BWV849-01_001_20090916-SMD",
    "Chopin_Op010-03_007_20100611-SMD",
    "Ravel_JeuxDEau_008_20110315-SMD",
]

MAESTRO_ROWS = [
    {
        "canonical_composer": "Frédéric Chopin",
        "canonical_title": "Ballade No. 1 in G Minor, Op. 23",
        "split": "train",
        "year": 2004,
        "midi_filename": "2004/chopin-ballade.midi",
        "audio_filename": "2004/chopin-ballade.wav",
        "duration": 2.0,
    },
    {
        "canonical_composer": "Johann Sebastian Bach",
        "canonical_title": "Prelude and Fugue in C Major, WTC I",
        "split": "test",
        "year": 2018,
        "midi_filename": "2018/bach-prelude.midi",
        "audio_filename": "2018/bach-prelude.wav",
        "duration": 2.0,
    },
]


def files_under(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def smd_root(tmp_path):
    """Three SMD recordings (different tones, so different bytes) and one truncated file."""
    root = tmp_path / "SMD"
    for i, stem in enumerate(SMD_NAMES):
        write_audio(root / "wav-44" / f"{stem}.wav", tone(freq=220 * (i + 1)))
    (root / "wav-44" / "Broken_BWV001_001_20090916-SMD.wav").write_bytes(audio_bytes()[:30_000])
    return root


def write_maestro(root, index_format):
    for i, row in enumerate(MAESTRO_ROWS):
        write_audio(root / row["audio_filename"], tone(freq=330 * (i + 1)))
    if index_format == "csv":
        with open(root / "maestro-v3.0.0.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(MAESTRO_ROWS[0]))
            writer.writeheader()
            writer.writerows(MAESTRO_ROWS)
    else:  # MAESTRO's JSON is column-oriented: {"column": {"row number": value}}
        columns = {name: {str(i): row[name] for i, row in enumerate(MAESTRO_ROWS)} for name in MAESTRO_ROWS[0]}
        (root / "maestro-v3.0.0.json").write_text(json.dumps(columns), encoding="utf-8")
    return root


def import_tree(layout, root, dataset, copy=True):
    return run_import(dataset, find_entries(layout, root), root=root, copy=copy)


# --- SMD ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stem, composer, work, title, metadata",
    [
        (
            "Bach_BWV849-01_001_20090916-SMD",
            "Bach",
            "BWV 849",
            "Bach BWV849-01",
            {"work_id": "BWV849-01", "movement": "01", "take": "001", "recorded": "2009-09-16"},
        ),
        (
            "Beethoven_Op031No2-01_003_20090916-SMD",
            "Beethoven",
            "Op 31 No 2",
            "Beethoven Op031No2-01",
            {"work_id": "Op031No2-01", "movement": "01", "take": "003", "recorded": "2009-09-16"},
        ),
        (
            "Mozart_KV265_006_20110315-SMD",
            "Mozart",
            "KV 265",
            "Mozart KV265",
            {"work_id": "KV265", "take": "006", "recorded": "2011-03-15"},
        ),
        (
            "Ravel_JeuxDEau_008_20110315-SMD",
            "Ravel",
            "JeuxDEau",
            "Ravel JeuxDEau",
            {"work_id": "JeuxDEau", "take": "008", "recorded": "2011-03-15"},
        ),
    ],
)
def test_smd_file_names_are_parsed(stem, composer, work, title, metadata):
    assert parse_smd_name(stem) == {
        "title": title,
        "composer": composer,
        "work": work,
        "external_id": stem,
        "metadata": metadata,
    }


def test_unrecognised_smd_name_keeps_its_stem():
    assert parse_smd_name("rehearsal take") == {"title": "rehearsal take", "external_id": "rehearsal take"}


def test_smd_import_reports_the_corrupt_file_and_imports_the_rest(smd_root):
    dataset = make_dataset("SMD", source_kind=Dataset.SourceKind.SMD)

    summary = import_tree("smd", smd_root, dataset)

    assert summary.imported == 3
    assert summary.skipped == []
    [(failed_id, reason)] = summary.failed
    assert failed_id == "Broken_BWV001_001_20090916-SMD"
    assert "truncated" in reason
    bach = dataset.tracks.get(external_id="Bach_BWV849-01_001_20090916-SMD")
    assert (bach.composer, bach.work, bach.title) == ("Bach", "BWV 849", "Bach BWV849-01")
    assert bach.metadata["recorded"] == "2009-09-16"
    assert bach.metadata["movement"] == "01"
    assert bach.status == Track.Status.PENDING


def test_reimport_adds_nothing(smd_root):
    dataset = make_dataset("SMD")
    import_tree("smd", smd_root, dataset)

    again = import_tree("smd", smd_root, dataset)

    assert again.imported == 0
    assert sorted(again.skipped) == sorted((stem, "already imported") for stem in SMD_NAMES)
    assert len(again.failed) == 1  # the broken file is still reported, run after run
    assert dataset.tracks.count() == 3


def test_smd_wav_files_directly_under_the_root_are_found(tmp_path):
    write_audio(tmp_path / "Bach_BWV849-01_001_20090916-SMD.wav")
    [entry] = find_entries("smd", tmp_path)
    assert entry.fields["composer"] == "Bach"


# --- MAESTRO --------------------------------------------------------------------------------



@pytest.mark.parametrize("copy", [True, False], ids=["copied", "in-place"])
def test_smd_scores_travel_with_their_recordings(smd_root, copy, django_capture_on_commit_callbacks):
    (smd_root / "midi").mkdir()
    for stem in SMD_NAMES[:2]:  # the third recording has no score
        write_midi(smd_root / "midi" / f"{stem}.mid", [(0.0, 0.5, 64)], pedal=[])
    import_tree("smd", smd_root, make_dataset("SMD"), copy=copy)
    tracks = {t.external_id: t for t in Track.objects.all()}
    scored = tracks[SMD_NAMES[0]]
    assert scored.metadata["midi_filename"] == f"midi/{SMD_NAMES[0]}.mid"
    assert "midi_filename" not in tracks[SMD_NAMES[2]].metadata
    if copy:  # kept in storage, so the dataset folder may go
        stored = scored.metadata["midi_path"]
        assert default_storage.open(stored).read() == (smd_root / "midi" / f"{SMD_NAMES[0]}.mid").read_bytes()
        with django_capture_on_commit_callbacks(execute=True):
            delete_track(scored)
        assert not default_storage.exists(stored)
    else:
        assert "midi_path" not in scored.metadata

@pytest.mark.parametrize("index_format", ["csv", "json"])
def test_maestro_rows_become_tracks_with_their_metadata(tmp_path, index_format):
    root = write_maestro(tmp_path / "maestro-v3.0.0", index_format)
    dataset = make_dataset("MAESTRO", source_kind=Dataset.SourceKind.MAESTRO)

    summary = import_tree("maestro", root, dataset)

    assert (summary.imported, summary.skipped, summary.failed) == (2, [], [])
    chopin = dataset.tracks.get(external_id="2004/chopin-ballade.wav")
    assert chopin.composer == "Frédéric Chopin"
    assert chopin.title == chopin.work == "Ballade No. 1 in G Minor, Op. 23"
    assert chopin.metadata == {
        "original_name": "chopin-ballade.wav",
        "split": "train",
        "year": 2004,
        "duration": 2.0,
        "midi_filename": "2004/chopin-ballade.midi",
    }


def test_maestro_recording_missing_on_disk_is_reported(tmp_path):
    root = write_maestro(tmp_path, "csv")
    (root / "2018" / "bach-prelude.wav").unlink()

    summary = import_tree("maestro", root, make_dataset("MAESTRO"))

    assert summary.imported == 1
    [(failed_id, reason)] = summary.failed
    assert failed_id == "2018/bach-prelude.wav"
    assert "No such file" in reason


# --- Any folder -----------------------------------------------------------------------------


def test_folder_import_in_place_finds_audio_recursively_and_stores_nothing(tmp_path, _isolated_media):
    root = tmp_path / "library"
    write_audio(root / "Chopin" / "Nocturne.WAV", tone(freq=200), fmt="WAV")
    write_audio(root / "Chopin" / "Etude.Flac", tone(freq=300), fmt="FLAC")
    write_audio(root / "loose.mp3", tone(freq=400))
    (root / "notes.txt").write_text("not audio")
    (root / "Chopin" / "._Nocturne.WAV").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")

    summary = import_tree("folder", root, make_dataset("Library"), copy=False)

    assert (summary.imported, summary.skipped, summary.failed) == (3, [], [])
    tracks = {t.external_id: t for t in Track.objects.all()}
    assert sorted(tracks) == ["Chopin/Etude.Flac", "Chopin/Nocturne.WAV", "loose.mp3"]
    assert tracks["Chopin/Etude.Flac"].title == "Etude"
    assert tracks["Chopin/Etude.Flac"].composer == ""
    assert {t.audio_root for t in tracks.values()} == {str(root)}
    assert files_under(_isolated_media) == []


def test_folder_import_takes_every_name_accepted_audio_is_saved_under(tmp_path):
    root = tmp_path / "library"
    for i, (name, fmt) in enumerate([("a.aif", "AIFF"), ("b.aiff", "AIFF"), ("c.opus", "OGG"), ("d.wav", "WAV")]):
        write_audio(root / name, tone(freq=200 + 100 * i), fmt=fmt)

    summary = import_tree("folder", root, make_dataset("Library"))

    assert (summary.imported, summary.failed) == (4, [])
    assert sorted(Track.objects.values_list("format", flat=True)) == ["AIFF", "AIFF", "OGG", "WAV"]


def test_same_audio_under_two_names_is_skipped_as_a_duplicate(tmp_path):
    data = audio_bytes()
    (tmp_path / "a.wav").write_bytes(data)
    (tmp_path / "b.wav").write_bytes(data)

    summary = import_tree("folder", tmp_path, make_dataset("Library"))

    assert summary.imported == 1
    [(skipped_id, reason)] = summary.skipped
    assert skipped_id == "b.wav"
    assert "same audio as" in reason and "“a”" in reason


@pytest.mark.parametrize(
    "layout, prepare, problem",
    [
        ("folder", lambda root: None, "is not a folder"),
        ("smd", lambda root: root.mkdir(), "No SMD wav files"),
        ("maestro", lambda root: write_audio(root / "2004" / "x.wav"), "No maestro-v*.csv"),
        ("folder", lambda root: (root.mkdir(), (root / "readme.txt").write_text("hi")), "No .aif, .aifc, .aiff, .flac, .mp3"),
    ],
)
def test_roots_that_are_not_the_layout_are_refused(tmp_path, layout, prepare, problem):
    root = tmp_path / "root"
    prepare(root)
    with pytest.raises(DatasetImportError, match=problem.replace(".", r"\.").replace("*", r"\*")):
        find_entries(layout, root)


# --- The command ----------------------------------------------------------------------------


def run_command(*args):
    out, err = StringIO(), StringIO()
    call_command("import_dataset", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_command_imports_and_prints_a_summary(smd_root, capsys):
    output = run_command("smd", str(smd_root))

    # No progress bar when stderr is not a terminal: a log would get a line per file.
    assert "Importing into" not in capsys.readouterr().err

    dataset = Dataset.objects.get()
    assert (dataset.name, dataset.slug, dataset.source_kind) == ("Saarland Music Data", "saarland-music-data", "smd")
    assert dataset.tracks.count() == 3
    lines = output.splitlines()
    assert lines[0] == "Saarland Music Data: 3 imported, 0 skipped, 1 failed."
    assert lines[1].startswith("  failed Broken_BWV001_001_20090916-SMD: Broken_BWV001_001_20090916-SMD.wav is truncated")

    again = run_command("smd", str(smd_root))
    assert again.splitlines()[0] == "Saarland Music Data: 0 imported, 3 skipped, 1 failed."
    assert "  skipped Bach_BWV849-01_001_20090916-SMD: already imported" in again.splitlines()


def test_command_options_name_the_dataset_limit_and_place_in_place(tmp_path, _isolated_media):
    root = write_maestro(tmp_path / "maestro", "json")

    output = run_command("maestro", str(root), "--dataset", "piano", "--name", "Piano", "--in-place", "--limit", "1")

    assert output.splitlines()[0] == "Piano: 1 imported, 0 skipped, 0 failed."
    track = Track.objects.get(dataset__slug="piano")
    assert (track.audio_root, track.audio_path) == (str(root.resolve()), "2004/chopin-ballade.wav")
    assert files_under(_isolated_media) == []


def test_command_adds_to_an_existing_dataset(tmp_path):
    existing = make_dataset("My library", slug="mine")
    write_audio(tmp_path / "a.ogg")

    run_command("folder", str(tmp_path), "--dataset", "mine")

    assert existing.tracks.count() == 1
    assert Dataset.objects.count() == 1


def test_command_will_not_create_a_dataset_whose_name_is_taken(smd_root):
    make_dataset("Saarland Music Data", slug="smd")
    with pytest.raises(CommandError, match="already uses the name “Saarland Music Data”"):
        run_command("smd", str(smd_root), "--dataset", "smd-2")
    assert Dataset.objects.count() == 1


@pytest.mark.parametrize(
    "folder, options, problem",
    [("nowhere", [], "is not a folder"), ("", ["--limit", "0"], "--limit must be at least 1")],
)
def test_command_refuses_to_start_on_a_bad_root_or_limit(tmp_path, folder, options, problem):
    write_audio(tmp_path / "a.wav")
    with pytest.raises(CommandError, match=problem):
        run_command("folder", str(tmp_path / folder), *options)
    assert not Dataset.objects.exists()

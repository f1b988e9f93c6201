"""The demo corpus: real works rendered to WAV + MIDI, cached, and imported once."""

import hashlib
import importlib
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
from django.apps import apps as django_apps
from django.core.management import CommandError, call_command

from analysis.probing import midi_file
from catalog import demo_corpus
from catalog.models import Dataset, Track
from tests.factories import audio_bytes, make_dataset, make_track, tone

pytestmark = pytest.mark.django_db

SECONDS = 4.0
EXCERPTS = demo_corpus.plan(seconds=SECONDS, limit=3)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    for excerpt in EXCERPTS:
        assert demo_corpus.render(excerpt, root)
    return root


def test_the_first_excerpts_are_one_work_by_several_ensembles():
    assert len({e.work for e in EXCERPTS}) == 1
    assert len({e.ensemble for e in EXCERPTS}) == 3


def test_excerpts_are_audible_audio_of_the_requested_length(rendered):
    for excerpt in EXCERPTS:
        audio, rate = sf.read(rendered / excerpt.audio_name)
        assert rate == demo_corpus.SAMPLE_RATE
        assert len(audio) / rate == pytest.approx(SECONDS, abs=0.01)
        assert np.sqrt(np.mean(audio**2)) > 0.02
        assert np.abs(audio).max() == pytest.approx(demo_corpus.PEAK, abs=0.01)


def test_the_midi_is_the_excerpt_with_every_part_on_its_ensemble_program(rendered):
    for excerpt in EXCERPTS:
        midi = pretty_midi.PrettyMIDI(str(rendered / excerpt.midi_name))
        assert midi.get_end_time() <= SECONDS + 0.01
        programs = [part.program for part in midi.instruments]
        assert programs == demo_corpus.ENSEMBLES[excerpt.ensemble].programs(len(programs))


def test_ensembles_sound_different_for_the_same_work(rendered):
    signals = [sf.read(rendered / excerpt.audio_name)[0] for excerpt in EXCERPTS]
    spectra = [np.abs(np.fft.rfft(signal)) for signal in signals]
    spectra = [spectrum / spectrum.sum() for spectrum in spectra]
    for i in range(len(spectra)):
        for j in range(i + 1, len(spectra)):
            assert np.abs(spectra[i] - spectra[j]).sum() > 0.2  # total variation: far from equal


def test_rendering_gives_the_same_bytes_every_time(rendered, tmp_path):
    # The other ensembles of the work were rendered since, from the same parsed score.
    excerpt = EXCERPTS[0]
    assert demo_corpus.render(excerpt, tmp_path)
    for name in (excerpt.audio_name, excerpt.midi_name):
        assert digest(tmp_path / name) == digest(rendered / name)


def test_command_imports_the_excerpts_in_place_once(tmp_path):
    out = StringIO()
    call_command("make_demo_corpus", limit=3, seconds=SECONDS, output=str(tmp_path), stdout=out)
    assert "3 rendered, 0 reused, 3 imported, 0 skipped, 0 failed" in out.getvalue()

    dataset = Dataset.objects.get(slug="demo")
    assert (dataset.name, dataset.source_kind) == ("Demo corpus", Dataset.SourceKind.DEMO)
    tracks = list(dataset.tracks.order_by("external_id"))
    assert {t.metadata["instrument"] for t in tracks} == {e.ensemble for e in EXCERPTS}
    for track in tracks:
        assert (track.composer, track.work) == ("Johann Sebastian Bach", "BWV 269")
        assert track.metadata["instrument"] in track.title
        assert track.audio_root == str(tmp_path) and track.status == Track.Status.PENDING
        assert track.duration == pytest.approx(SECONDS, abs=0.01)
        with midi_file(track) as midi:
            assert midi == tmp_path / track.metadata["midi_filename"] and midi.is_file()

    files = {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*") if path.is_file()}
    out = StringIO()
    call_command("make_demo_corpus", limit=3, seconds=SECONDS, output=str(tmp_path), stdout=out)
    assert "0 rendered, 3 reused, 0 imported, 3 skipped, 0 failed" in out.getvalue()
    assert dataset.tracks.count() == 3
    assert {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*") if path.is_file()} == files


def test_a_missing_synthesizer_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # as when libfluidsynth3 is missing
    with pytest.raises(CommandError, match="apt-get install libfluidsynth3"):
        call_command("make_demo_corpus", limit=1, seconds=SECONDS, output=str(tmp_path), stdout=StringIO())
    assert not list(tmp_path.rglob("*.wav"))


def test_the_web_modules_do_not_load_music21_or_a_synthesizer():
    script = (
        "import sys, django; django.setup()\n"
        "import catalog.demo_corpus, catalog.management.commands.make_demo_corpus\n"
        "loaded = {'music21', 'pretty_midi', 'fluidsynth'} & {m.split('.')[0] for m in sys.modules}\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True,
        timeout=120, env={**os.environ, "DJANGO_SETTINGS_MODULE": "messsite.settings"},
    )
    assert result.returncode == 0, result.stderr


def test_another_soundfont_renders_other_files_into_its_own_dataset(tmp_path, rendered):
    font = demo_corpus.find_soundfont("opl3")  # Debian's opl3-soundfont: FM synthesis
    excerpt = demo_corpus.plan(seconds=SECONDS, limit=1, soundfont=font)[0]
    assert excerpt.stem == f"opl3/{EXCERPTS[0].stem}"
    out = StringIO()
    call_command("make_demo_corpus", limit=1, seconds=SECONDS, soundfont="opl3", output=str(tmp_path), stdout=out)
    assert "1 rendered, 0 reused, 1 imported" in out.getvalue()
    [track] = Dataset.objects.get(slug="demo-opl3", name="Demo corpus (OPL-3_FM_128M)").tracks.all()
    assert track.performer == "FluidSynth, OPL-3_FM_128M SoundFont"
    assert track.metadata["instrument"] == EXCERPTS[0].ensemble
    assert (tmp_path / excerpt.audio_name).is_file() and (tmp_path / excerpt.midi_name).is_file()
    # The same score, played otherwise.
    assert digest(tmp_path / excerpt.midi_name) == digest(rendered / EXCERPTS[0].midi_name)
    assert digest(tmp_path / excerpt.audio_name) != digest(rendered / EXCERPTS[0].audio_name)
    assert not Dataset.objects.filter(slug="demo").exists()


def test_a_soundfont_that_is_not_there_is_refused_by_name(tmp_path, monkeypatch):
    output = tmp_path / "corpus"
    with pytest.raises(CommandError, match="No SoundFont '/nowhere/piano.sf2': give one of timgm6mb, musescore"):
        call_command("make_demo_corpus", soundfont="/nowhere/piano.sf2", output=str(output), stdout=StringIO())
    missing = demo_corpus.SoundFont("opl3", "OPL-3_FM_128M", str(tmp_path / "gone.sf2"), "opl3-soundfont")
    monkeypatch.setitem(demo_corpus.SOUNDFONTS, "opl3", missing)
    with pytest.raises(CommandError, match="apt-get install opl3-soundfont"):
        call_command("make_demo_corpus", soundfont="opl3", output=str(output), stdout=StringIO())
    assert not output.exists() and not Dataset.objects.exists()


def test_every_work_has_a_readable_name_and_older_imports_are_renamed_to_it():
    assert not [work.work for work in demo_corpus.WORKS if "/" in work.work]  # no corpus path shown as a work
    migration = importlib.import_module("catalog.migrations.0003_readable_demo_work_names")
    assert set(migration.RENAMED.values()) <= {work.work for work in demo_corpus.WORKS}
    demo = make_dataset("Demo corpus", slug="demo", source_kind=Dataset.SourceKind.DEMO)
    old = make_track(demo, title="La giovinetta pianta (strings)", work="monteverdi/madrigal.3.1")
    mine = make_track(make_dataset("Mine"), data=audio_bytes(tone(freq=300)), work="monteverdi/madrigal.3.1")

    migration.rename(django_apps, None, migration.RENAMED)

    old.refresh_from_db()
    mine.refresh_from_db()
    assert (old.work, mine.work) == ("Madrigals, Book 3 No. 1", "monteverdi/madrigal.3.1")

"""The demo catalogue: real works from music21's bundled corpus, rendered to audio.

Each (work, ensemble) pair becomes one excerpt: the score's first measures are given a
General-MIDI program per part, written as MIDI, cut at the excerpt length and played by
FluidSynth with a SoundFont: by default the TimGM6mb that pretty_midi ships; another
(SOUNDFONTS, or any .sf2/.sf3 file) renders the same excerpts with other timbres into
files of their own, so a model can be asked to find a work across renderings. The MIDI
is kept beside its WAV, so probing can read the score. Nothing is random and no file
holds a timestamp, so a rendering gives the same bytes every time (with the same
FluidSynth library: Debian's libfluidsynth3 does the synthesis).

music21, pretty_midi and fluidsynth are worker packages (requirements/ml.txt), imported
inside the functions that use them: the web process never loads them.
"""

import functools
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
from django.utils.text import slugify

from catalog.importers import Entry

DATASET_NAME, DATASET_SLUG = "Demo corpus", "demo"
DEFAULT_SECONDS = 30.0
SAMPLE_RATE = 24_000  # MERT's rate: extraction needs no resampling, and the files stay small
MAX_MEASURES = 64  # more than 40 s of the fastest work listed; parsing on is wasted time
FADE_SECONDS = 0.25  # the cut falls mid-note: a short fade instead of a click
PEAK = 0.9  # every excerpt peaks here, so ensembles differ by timbre rather than level


class DemoCorpusError(Exception):
    """The demo corpus cannot be rendered on this machine."""


@dataclass(frozen=True)
class SoundFont:
    """`path` None: pretty_midi's own TimGM6mb. `key` names the rendering's subfolder and
    dataset slug; `package` is the Debian package that installs the file."""

    key: str
    name: str
    path: str | None = None
    package: str = ""

    @property
    def performer(self):
        return f"FluidSynth, {self.name} SoundFont"

    @property
    def dataset(self):
        """(slug, name) of the dataset this rendering imports into by default."""
        if self.key == DEFAULT_SOUNDFONT:
            return DATASET_SLUG, DATASET_NAME
        return f"{DATASET_SLUG}-{self.key}", f"{DATASET_NAME} ({self.name})"


DEFAULT_SOUNDFONT = "timgm6mb"
SOUNDFONTS = {
    font.key: font
    for font in (
        SoundFont(DEFAULT_SOUNDFONT, "TimGM6mb"),
        # Sampled instruments, recorded otherwise than TimGM6mb's (sf3: FluidSynth reads it).
        SoundFont("musescore", "MuseScore_General", "/usr/share/sounds/sf3/MuseScore_General.sf3",
                  "musescore-general-soundfont-small"),
        SoundFont("fluidr3", "FluidR3_GM", "/usr/share/sounds/sf2/FluidR3_GM.sf2", "fluid-soundfont-gm"),
        # FM synthesis (an OPL-3 chip's sounds): the farthest timbre from the sampled ones.
        SoundFont("opl3", "OPL-3_FM_128M", "/usr/share/sounds/sf2/OPL-3_FM_128M.sf2", "opl3-soundfont"),
    )
}


def find_soundfont(name_or_path):
    """The SoundFont named by its key in SOUNDFONTS or by the path of a .sf2/.sf3 file;
    DemoCorpusError when its file is missing (naming the Debian package for a known one)."""
    font = SOUNDFONTS.get(name_or_path.lower())
    if font is None:
        path = Path(name_or_path).expanduser()
        if path.suffix.lower() not in (".sf2", ".sf3") or not path.is_file():
            raise DemoCorpusError(
                f"No SoundFont {name_or_path!r}: give one of {', '.join(SOUNDFONTS)} or the path of a .sf2/.sf3 file."
            )
        font = SoundFont(slugify(path.stem), path.stem, str(path.resolve()))
    if font.path and not Path(font.path).is_file():
        raise DemoCorpusError(f"The {font.name} SoundFont is not installed ({font.path}): "
                              f"apt-get install {font.package}.")
    return font


@dataclass(frozen=True)
class Ensemble:
    """General-MIDI programs by part: `upper` from the top part down (its last program
    repeats for scores with more parts), `bass` for the bottom part."""

    upper: tuple
    bass: int

    def programs(self, parts):
        upper = [self.upper[min(i, len(self.upper) - 1)] for i in range(parts - 1)]
        return [*upper, self.bass]


ENSEMBLES = {
    "piano": Ensemble((0,), 0),
    "harpsichord": Ensemble((6,), 6),
    "organ": Ensemble((19,), 19),  # church organ
    "strings": Ensemble((40, 40, 41), 42),  # violins, viola, cello
    "winds": Ensemble((73, 68, 71), 70),  # flute, oboe, clarinet, bassoon
    "clarinet and piano": Ensemble((71, 0), 0),
    "cello and piano": Ensemble((42, 0), 0),
    "oboe and harpsichord": Ensemble((68, 6), 6),
    "violin and organ": Ensemble((40, 19), 19),
}

CHORALE = ("piano", "organ", "strings", "winds")
QUARTET = ("strings", "piano", "winds")
CONSORT = ("strings", "organ", "winds")
KEYBOARD = ("piano", "harpsichord")


@dataclass(frozen=True)
class Work:
    corpus_path: str  # in music21's corpus, with its extension: some works exist in two formats
    composer: str
    work: str  # catalogue number, else the work's name: shown as is in the catalogue
    title: str
    ensembles: tuple


WORKS = (
    # The first work has several ensembles, so that `--limit 3` renders one score three ways.
    Work("bach/bwv269.mxl", "Johann Sebastian Bach", "BWV 269", "Aus meines Herzens Grunde", CHORALE),
    Work("bach/bwv302.mxl", "Johann Sebastian Bach", "BWV 302", "Ein feste Burg ist unser Gott", CHORALE),
    Work("bach/bwv244.54.mxl", "Johann Sebastian Bach", "BWV 244.54", "O Haupt voll Blut und Wunden", CHORALE),
    Work("bach/bwv140.7.mxl", "Johann Sebastian Bach", "BWV 140.7", "Wachet auf, ruft uns die Stimme", CHORALE),
    Work("haydn/opus1no1/movement1.mxl", "Joseph Haydn", "Op. 1 No. 1",
         "String Quartet Op. 1 No. 1: I. Presto", QUARTET),
    Work("haydn/opus74no1/movement1.mxl", "Joseph Haydn", "Op. 74 No. 1",
         "String Quartet Op. 74 No. 1: I. Allegro moderato", QUARTET),
    Work("mozart/k80/movement1.mxl", "Wolfgang Amadeus Mozart", "K. 80", "String Quartet K. 80: I. Adagio", QUARTET),
    Work("mozart/k458/movement1.mxl", "Wolfgang Amadeus Mozart", "K. 458",
         "String Quartet K. 458 “The Hunt”: I. Allegro vivace assai", QUARTET),
    Work("beethoven/opus18no1/movement1.mxl", "Ludwig van Beethoven", "Op. 18 No. 1",
         "String Quartet Op. 18 No. 1: I. Allegro con brio", QUARTET),
    Work("schumann_robert/opus41no1/movement1.mxl", "Robert Schumann", "Op. 41 No. 1",
         "String Quartet Op. 41 No. 1: I. Introduzione – Allegro", QUARTET),
    Work("monteverdi/madrigal.3.1.mxl", "Claudio Monteverdi", "Madrigals, Book 3 No. 1",
         "La giovinetta pianta (Madrigals, Book 3)", CONSORT),
    Work("corelli/opus3no1/1grave.xml", "Arcangelo Corelli", "Op. 3 No. 1",
         "Trio Sonata Op. 3 No. 1: I. Grave", CONSORT),
    Work("mozart/k545/movement1_exposition.mxl", "Wolfgang Amadeus Mozart", "K. 545",
         "Piano Sonata K. 545: I. Allegro (exposition)", KEYBOARD),
    Work("cpebach/h186.mxl", "Carl Philipp Emanuel Bach", "H. 186", "Sonata H. 186: II. Poco adagio", KEYBOARD),
    Work("joplin/maple_leaf_rag.mxl", "Scott Joplin", "Maple Leaf Rag", "Maple Leaf Rag", KEYBOARD),
    Work("chopin/mazurka06-2.krn", "Frédéric Chopin", "Op. 6 No. 2", "Mazurka Op. 6 No. 2", ("piano",)),
    Work("schumann_clara/polonaise_op1n1.mxl", "Clara Schumann", "Op. 1 No. 1", "Polonaise Op. 1 No. 1", ("piano",)),
    Work("schubert/Lindenbaum.xml", "Franz Schubert", "D. 911 No. 5", "Der Lindenbaum (Winterreise)",
         ("clarinet and piano", "cello and piano")),
    Work("handel/rinaldo/Lascia_chio_pianga.mxl", "George Frideric Handel", "HWV 7", "Lascia ch’io pianga (Rinaldo)",
         ("oboe and harpsichord", "violin and organ")),
)


@dataclass(frozen=True)
class Excerpt:
    """One work played by one ensemble, `seconds` long (less when the work is shorter),
    rendered with `soundfont`."""

    work: Work
    ensemble: str
    seconds: float
    soundfont: SoundFont = SOUNDFONTS[DEFAULT_SOUNDFONT]

    @property
    def stem(self):
        # The length is in the name: excerpts of another length are other files. Another
        # SoundFont's renderings are other files too, in a subfolder of their own.
        stem = f"{Path(self.work.corpus_path).with_suffix('')}-{slugify(self.ensemble)}-{self.seconds:g}s"
        return stem if self.soundfont.key == DEFAULT_SOUNDFONT else f"{self.soundfont.key}/{stem}"

    @property
    def audio_name(self):
        return f"{self.stem}.wav"

    @property
    def midi_name(self):
        return f"{self.stem}.mid"


def plan(seconds=DEFAULT_SECONDS, limit=None, soundfont=SOUNDFONTS[DEFAULT_SOUNDFONT]):
    """The excerpts to render, work by work (so each score is parsed once), the first `limit`."""
    return [Excerpt(work, ensemble, seconds, soundfont) for work in WORKS for ensemble in work.ensembles][:limit]


def render(excerpt, root):
    """Write the excerpt's WAV and MIDI under `root`, unless both are there already.
    Returns True when it rendered, False when it reused the files."""
    audio_path, midi_path = Path(root) / excerpt.audio_name, Path(root) / excerpt.midi_name
    if audio_path.is_file() and midi_path.is_file():
        return False
    midi = _orchestrated_midi(excerpt)
    _cut(midi, excerpt.seconds)
    audio = _synthesize(midi, excerpt.seconds, excerpt.soundfont.path)
    audio_path.parent.mkdir(parents=True, exist_ok=True)
    # The WAV goes last: its presence marks a finished pair for the next run.
    _write_atomically(midi_path, midi.write)
    _write_atomically(audio_path, lambda f: soundfile.write(f, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV"))
    return True


def entries(excerpts, root):
    """Importer entries for rendered excerpts, identified by their path under `root`."""
    return [
        Entry(
            Path(root) / excerpt.audio_name,
            {
                "title": f"{excerpt.work.title} ({excerpt.ensemble})",
                "composer": excerpt.work.composer,
                "work": excerpt.work.work,
                "performer": excerpt.soundfont.performer,
                "external_id": excerpt.audio_name,
                "metadata": {
                    "instrument": excerpt.ensemble,
                    "midi_filename": excerpt.midi_name,
                    "corpus_path": excerpt.work.corpus_path,
                    "excerpt_seconds": excerpt.seconds,
                },
            },
        )
        for excerpt in excerpts
    ]


@functools.lru_cache(maxsize=1)
def _score(corpus_path):
    """The work's first measures, without repeats; one parse serves all its ensembles
    (they come in a row)."""
    from music21 import bar, corpus, repeat, spanner

    score = corpus.parse(corpus_path).measures(0, MAX_MEASURES)
    # The excerpt plays its measures once, as printed (music21 refuses to expand a
    # repeat that the excerpt's end cuts off).
    for item in list(score.recurse().getElementsByClass((bar.Repeat, repeat.RepeatExpression, spanner.RepeatBracket))):
        item.activeSite.remove(item)
    return score


def _orchestrated_midi(excerpt):
    """A pretty_midi object of the excerpt's measures, each part on its ensemble's program."""
    import pretty_midi
    from music21 import instrument, midi

    score = _score(excerpt.work.corpus_path)
    # Every part's instruments are replaced, so the shared score keeps nothing of the
    # previous ensemble.
    programs = ENSEMBLES[excerpt.ensemble].programs(len(score.parts))
    for part, program in zip(score.parts, programs):
        for old in list(part.recurse().getElementsByClass(instrument.Instrument)):
            old.activeSite.remove(old)
        # A generic instrument: a transposing one (a B-flat clarinet) would move the notes.
        new = instrument.Instrument()
        new.midiProgram = program
        part.insert(0, new)
    data = midi.translate.streamToMidiFile(score).writestr()
    return pretty_midi.PrettyMIDI(io.BytesIO(data))


def _cut(midi, seconds):
    """Drop what starts at or after `seconds` and end the rest there, so the MIDI
    describes exactly the audio."""
    for part in midi.instruments:
        part.notes = [note for note in part.notes if note.start < seconds]
        for note in part.notes:
            note.end = min(note.end, seconds)
        part.control_changes = [c for c in part.control_changes if c.time < seconds]
        part.pitch_bends = [b for b in part.pitch_bends if b.time < seconds]
    for events in ("time_signature_changes", "key_signature_changes", "lyrics", "text_events"):
        setattr(midi, events, [e for e in getattr(midi, events) if e.time < seconds])


def _synthesize(midi, seconds, soundfont_path=None):
    """Mono float audio at SAMPLE_RATE, at most `seconds` long, faded out and at PEAK;
    played with the SoundFont file at `soundfont_path`, else pretty_midi's TimGM6mb."""
    try:
        import fluidsynth  # noqa: F401  pretty_midi would only say it is not installed
    except ImportError as exc:
        raise DemoCorpusError(
            f"Rendering needs FluidSynth ({exc}): apt-get install libfluidsynth3, "
            "then pip install -r requirements/ml.txt."
        ) from exc
    audio = midi.fluidsynth(fs=SAMPLE_RATE, synthesizer=soundfont_path)[: int(seconds * SAMPLE_RATE)]
    fade = min(len(audio), int(FADE_SECONDS * SAMPLE_RATE))
    audio[len(audio) - fade :] *= np.linspace(1.0, 0.0, fade)
    return audio * (PEAK / np.abs(audio).max())


def _write_atomically(path, write):
    """An interrupted run leaves no half-written file that a later run would reuse."""
    partial = path.with_name(f"{path.name}.partial")
    with open(partial, "wb") as f:
        write(f)
    os.replace(partial, path)

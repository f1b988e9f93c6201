"""Importing whole datasets from disk: SMD, MAESTRO, or any folder of audio.

A layout turns a root folder into candidate entries (a path and the track fields it
implies); one runner imports any list of entries, so re-runs, duplicates and bad
files behave the same whatever the layout.
"""

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.db.models import Q
from django.utils.text import slugify

from catalog.audio import AUDIO_SUFFIXES, AudioRejected
from catalog.intake import DuplicateTrack, ingest_path
from catalog.models import Dataset, Track


class DatasetImportError(Exception):
    """The import cannot start: the root is missing or not laid out as expected, or the
    dataset name is taken."""


@dataclass(frozen=True)
class Entry:
    path: Path
    fields: dict

    @property
    def external_id(self):
        return self.fields["external_id"]


@dataclass
class ImportSummary:
    imported: int = 0
    skipped: list = field(default_factory=list)  # (external id, reason)
    failed: list = field(default_factory=list)  # (external id, reason)


# --- Layouts ----------------------------------------------------------------------------

# Bach_BWV849-01_001_20090916-SMD: composer, work id (with movement), take, recording date.
_SMD_NAME = re.compile(r"^(?P<composer>[^_]+)_(?P<work_id>[^_]+)_(?P<take>\d+)_(?P<date>\d{8})-SMD$")


def smd_entries(root):
    """Saarland Music Data: `<root>/wav-44/*.wav`, or the wav files directly under root;
    each recording's score-aligned MIDI, when present, as `<root>/midi/<same name>.mid`."""
    folder = root / "wav-44" if (root / "wav-44").is_dir() else root
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".wav")
    if not paths:
        raise DatasetImportError(f"No SMD wav files in {folder} (expected {root / 'wav-44'}/*.wav).")
    entries = []
    for path in paths:
        fields = parse_smd_name(path.stem)
        if (root / "midi" / f"{path.stem}.mid").is_file():
            fields["metadata"] = {**fields.get("metadata", {}), "midi_filename": f"midi/{path.stem}.mid"}
        entries.append(Entry(path, fields))
    return entries


def parse_smd_name(stem):
    """Track fields from an SMD file name; unrecognised names keep just their stem."""
    match = _SMD_NAME.match(stem)
    if not match:
        return {"title": stem, "external_id": stem}
    work_id, _, movement = match["work_id"].partition("-")
    day = match["date"]
    metadata = {"work_id": match["work_id"], "take": match["take"], "recorded": f"{day[:4]}-{day[4:6]}-{day[6:]}"}
    if movement:
        metadata["movement"] = movement
    return {
        "title": f"{match['composer']} {match['work_id']}",
        "composer": match["composer"],
        "work": _catalogue_number(work_id),
        "external_id": stem,
        "metadata": metadata,
    }


def _catalogue_number(work_id):
    """'BWV849' -> 'BWV 849', 'Op031No2' -> 'Op 31 No 2'; names such as 'JeuxDEau' stay."""
    parts = re.findall(r"[A-Za-z]+|\d+", work_id)
    if "".join(parts) != work_id or not any(p.isdigit() for p in parts):
        return work_id
    return " ".join(str(int(p)) if p.isdigit() else p for p in parts)


_MAESTRO_COLUMNS = ("canonical_composer", "canonical_title", "split", "year", "midi_filename", "audio_filename", "duration")


def maestro_entries(root):
    """MAESTRO: `maestro-v*.csv` (or the column-oriented `.json`) lists each recording."""
    # The newest version's index wins, the CSV when both formats are present.
    indexes = sorted(root.glob("maestro-v*.csv"), reverse=True) or sorted(root.glob("maestro-v*.json"), reverse=True)
    if not indexes:
        raise DatasetImportError(f"No maestro-v*.csv or maestro-v*.json in {root}.")
    index = indexes[0]
    rows = _read_maestro_csv(index) if index.suffix == ".csv" else _read_maestro_json(index)
    if not rows:
        raise DatasetImportError(f"{index.name} lists no recordings.")
    missing = [c for c in _MAESTRO_COLUMNS if c not in rows[0]]
    if missing:
        raise DatasetImportError(f"{index.name} lacks the columns {', '.join(missing)}.")
    return [
        Entry(
            root / row["audio_filename"],
            {
                "title": row["canonical_title"],
                "composer": row["canonical_composer"],
                "work": row["canonical_title"],
                "external_id": row["audio_filename"],
                "metadata": {
                    "split": row["split"],
                    "year": int(row["year"]),
                    "duration": float(row["duration"]),
                    "midi_filename": row["midi_filename"],
                },
            },
        )
        for row in rows
    ]


def _read_maestro_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _read_maestro_json(path):
    # {"canonical_composer": {"0": "...", "1": ...}, "canonical_title": {...}, ...}
    columns = json.loads(path.read_text(encoding="utf-8"))
    keys = sorted(next(iter(columns.values()), {}), key=int)
    return [{name: values.get(key) for name, values in columns.items()} for key in keys]


def folder_entries(root):
    """Any folder, recursively: every audio file, described by its tags (intake reads them),
    else titled by its name; a sidecar (catalog/sidecar.py) may say more."""
    paths = sorted(
        p
        for p in root.rglob("*")
        # Dot files are macOS resource forks and editor leftovers, never recordings.
        if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith(".")
    )
    if not paths:
        raise DatasetImportError(f"No {', '.join(sorted(AUDIO_SUFFIXES))} files under {root}.")
    return [Entry(path, {"external_id": path.relative_to(root).as_posix()}) for path in paths]


LAYOUTS = {
    Dataset.SourceKind.SMD: (smd_entries, "Saarland Music Data"),
    Dataset.SourceKind.MAESTRO: (maestro_entries, "MAESTRO"),
    Dataset.SourceKind.FOLDER: (folder_entries, None),  # named after the folder
}


def find_entries(layout, root):
    """The candidate entries of `root` read as `layout`; DatasetImportError when it is not one."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetImportError(f"{root} is not a folder.")
    entries_of, _ = LAYOUTS[layout]
    return entries_of(root)


def dataset_for(layout, root, *, slug=None, name=None):
    """The dataset to import into: found by slug (or name), created when missing."""
    name = name or LAYOUTS[layout][1] or Path(root).name
    if slug:
        dataset = Dataset.objects.filter(slug=slug).first()
    else:
        dataset = Dataset.objects.filter(name=name).first()
        slug = slugify(name)
    if dataset:
        return dataset
    if not slug:
        raise DatasetImportError(f"“{name}” gives no usable slug; pass one with --dataset.")
    taken = Dataset.objects.filter(Q(name=name) | Q(slug=slug)).first()
    if taken:
        raise DatasetImportError(
            f"Dataset “{taken.name}” (slug {taken.slug}) already uses the name “{name}” or the slug {slug}; "
            f"pass another --name or --dataset."
        )
    return Dataset.objects.create(name=name, slug=slug, source_kind=layout)


# --- Runner ------------------------------------------------------------------------------


def run_import(dataset, entries, *, root, copy=True):
    """Import `entries` into `dataset`; bad files are reported in the summary, never raised."""
    summary = ImportSummary()
    known = set(dataset.tracks.values_list("external_id", flat=True))
    for entry in entries:
        # Checked before hashing, so a re-run over thousands of files takes seconds.
        if entry.external_id in known:
            summary.skipped.append((entry.external_id, "already imported"))
            continue
        try:
            track = ingest_path(dataset, entry.path, copy=copy, root=root, **entry.fields)
        except DuplicateTrack as exc:
            summary.skipped.append((entry.external_id, str(exc)))
        except AudioRejected as exc:
            summary.failed.append((entry.external_id, exc.message))
        except OSError as exc:
            summary.failed.append((entry.external_id, f"cannot read {entry.path}: {exc.strerror or exc}"))
        else:
            summary.imported += 1
            known.add(entry.external_id)
            if copy:
                keep_score(track, Path(root))
    return summary


def keep_score(track, root):
    """A copied track's score-aligned MIDI file (metadata `midi_filename`, relative to the
    import root) is copied too, to `metadata["midi_path"]` in the managed storage, so
    probing finds it after the dataset folder is gone. In-place tracks read it in place."""
    name = track.metadata.get("midi_filename")
    if not name or not (root / name).is_file():
        return
    with open(root / name, "rb") as f:
        stored = default_storage.save(f"scores/{track.sha256}.mid", File(f))
    Track.objects.filter(pk=track.pk).update(metadata={**track.metadata, "midi_path": stored})

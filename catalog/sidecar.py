"""A sidecar: a CSV or JSON file that describes the audio files of an import, one row per
file, for what their tags lack or get wrong. Its values win over the tags and the layout's.

CSV: a header row naming `file` and any of the descriptive fields, then one row per file.
JSON: a list of objects with the same keys. `file` is the audio file's path relative to the
import root; an empty cell (or null) leaves that field to the tags. A row that cannot be
used (a bad value, an unknown file, a file described twice) is reported with its line (CSV)
or entry (JSON) number and skipped: its file is imported all the same. A sidecar that cannot
be read at all, or whose header names an unknown column, stops the import before it starts.
"""

import csv
import json
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.core.exceptions import ValidationError

from catalog.importers import DatasetImportError, Entry
from catalog.models import DESCRIPTIVE_FIELDS, Track

# Looked for in the import root when no sidecar is named.
SIDECAR_NAMES = ("mess-metadata.csv", "mess-metadata.json")
COLUMNS = ("file", *DESCRIPTIVE_FIELDS)


@dataclass(frozen=True)
class RowError:
    where: str  # "line 3" (CSV) or "entry 2" (JSON)
    reason: str

    def __str__(self):
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True)
class SidecarResult:
    entries: list
    applied: int
    errors: list  # RowError


class _Unusable(Exception):
    """This row cannot be applied; the message says why."""


def find_sidecar(root):
    """The sidecar in `root` by its conventional name, or None."""
    present = [root / name for name in SIDECAR_NAMES if (root / name).is_file()]
    if len(present) > 1:
        raise DatasetImportError(f"{root} holds both {' and '.join(SIDECAR_NAMES)}; name the one to use.")
    return present[0] if present else None


def apply_sidecar(entries, root, path):
    """`entries` with the sidecar at `path` applied, file by file (matched by their path
    relative to `root`), with the rows that could not be applied and why."""
    entries = list(entries)
    position = {entry.path.relative_to(root).as_posix(): i for i, entry in enumerate(entries)}
    described, errors = {}, []
    for where, row in _read_rows(path):
        try:
            file, fields = _clean_row(row)
            if file in described:
                raise _Unusable(f"{file} is described by {described[file]} already")
            if file not in position:
                raise _Unusable(f"no audio file {file} in this import")
        except _Unusable as exc:
            errors.append(RowError(where, str(exc)))
            continue
        described[file] = where
        entry = entries[position[file]]
        entries[position[file]] = Entry(entry.path, {**entry.fields, **fields})
    return SidecarResult(entries, len(described), errors)


def _read_rows(path):
    """[(where, row)]; DatasetImportError when the file as a whole is unusable."""
    try:
        if path.suffix.lower() == ".json":
            return _json_rows(path)
        if path.suffix.lower() == ".csv":
            return _csv_rows(path)
    except UnicodeDecodeError as exc:
        raise DatasetImportError(f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from exc
    except OSError as exc:
        raise DatasetImportError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    raise DatasetImportError(f"{path.name}: a sidecar is a .csv or .json file.")


def _csv_rows(path):
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheets write a BOM
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        unknown = [name for name in header if name not in COLUMNS]
        if "file" not in header or unknown or len(set(header)) < len(header):
            raise DatasetImportError(
                f"{path.name}: its header must name `file` and any of {', '.join(DESCRIPTIVE_FIELDS)}, "
                f"each once; it is: {', '.join(header) or 'empty'}."
            )
        # line_num is the file's line, what a spreadsheet or an editor shows.
        return [(f"line {reader.line_num}", row) for row in reader]


def _json_rows(path):
    try:
        rows = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise DatasetImportError(f"{path.name} is not valid JSON: {exc}.") from exc
    if not isinstance(rows, list):
        raise DatasetImportError(f"{path.name} must hold a list of objects, one per file.")
    return [(f"entry {number}", row) for number, row in enumerate(rows, start=1)]


def _clean_row(row):
    """(file, {field: value}) for the row's non-empty values, each as its Track field cleans it."""
    if not isinstance(row, dict):
        raise _Unusable("not an object with a `file` key")
    if None in row:  # csv.DictReader's key for cells past the header's
        raise _Unusable(f"more cells than the header's {len(COLUMNS)} columns")
    unknown = sorted(set(row) - set(COLUMNS))
    if unknown:
        raise _Unusable(f"unknown key {', '.join(unknown)} (known: {', '.join(COLUMNS)})")
    file = row.get("file")
    if not isinstance(file, str) or not file.strip():
        raise _Unusable("no file named")
    fields, problems = {}, []
    for name in DESCRIPTIVE_FIELDS:
        value = row.get(name)
        if isinstance(value, str):
            value = value.strip()
        if value in (None, ""):
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            problems.append(f"{name}: give text or a whole number, not {json.dumps(value)}")
            continue
        try:
            fields[name] = Track._meta.get_field(name).clean(value, None)
        except ValidationError as exc:
            problems.append(f"{name}: {' '.join(exc.messages)}")
    if problems:
        raise _Unusable("; ".join(problems))
    # Windows-style separators and a leading ./ name the same file.
    return PurePosixPath(file.strip().replace("\\", "/")).as_posix(), fields

"""manage.py import_dataset {smd,maestro,folder} PATH: import a dataset from disk."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from catalog import importers, sidecar


class Command(BaseCommand):
    help = "Import audio from an SMD or MAESTRO download, or any folder of audio, into a dataset."

    def add_arguments(self, parser):
        parser.add_argument("layout", choices=list(importers.LAYOUTS), help="How the folder is laid out.")
        parser.add_argument("path", help="Root folder of the dataset.")
        parser.add_argument("--dataset", metavar="SLUG", help="Slug of the dataset to import into.")
        parser.add_argument("--name", help="Name of the dataset (created when missing).")
        placement = parser.add_mutually_exclusive_group()
        placement.add_argument(
            "--in-place", dest="copy", action="store_false", help="Reference the files where they are."
        )
        placement.add_argument(
            "--copy", dest="copy", action="store_true", default=True, help="Copy the files into storage (default)."
        )
        parser.add_argument("--limit", type=int, metavar="N", help="Import at most the first N files.")
        parser.add_argument(
            "--metadata",
            metavar="FILE",
            help=f"CSV or JSON file describing the files (default: {' or '.join(sidecar.SIDECAR_NAMES)} in PATH).",
        )

    def handle(self, *args, layout, path, dataset, name, copy, limit, metadata, **options):
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1.")
        root = Path(path).expanduser().resolve()
        described = None
        try:
            entries = importers.find_entries(layout, root)
            sidecar_path = Path(metadata).expanduser() if metadata else sidecar.find_sidecar(root)
            if sidecar_path:
                described = sidecar.apply_sidecar(entries, root, sidecar_path)
                entries = described.entries
            entries = entries[:limit]
            target = importers.dataset_for(layout, root, slug=dataset, name=name)
        except importers.DatasetImportError as exc:
            raise CommandError(str(exc)) from exc

        progress = tqdm(entries, desc=f"Importing into {target}", unit="file", file=sys.stderr, disable=None)
        summary = importers.run_import(target, progress, root=root, copy=copy)
        progress.close()

        self.stdout.write(
            f"{target}: {summary.imported} imported, {len(summary.skipped)} skipped, {len(summary.failed)} failed."
        )
        for label, problems in (("skipped", summary.skipped), ("failed", summary.failed)):
            for external_id, reason in problems:
                self.stdout.write(f"  {label} {external_id}: {reason}")
        if described:
            self.stdout.write(
                f"{sidecar_path.name}: {described.applied} row(s) applied, {len(described.errors)} not used."
            )
            for error in described.errors:
                self.stdout.write(f"  not used, {error}")

"""`manage.py clean_orphans`: list (default) or remove (--delete) the files that no row
refers to: in the media storage (audio/, scores/, peaks/, features/, clips/), saved indices
of spaces that are gone, and target tables of audio no space has features for
(analysis/leftovers.py)."""

import datetime

from django.core.management import BaseCommand, CommandError
from django.template.defaultfilters import filesizeformat

from analysis.leftovers import FOLDERS, find_orphans, remove_orphans


class Command(BaseCommand):
    help = f"Find files that no row refers to: in the media storage ({', '.join(f + '/' for f in FOLDERS)}), " \
           "saved indices of deleted spaces, target tables of audio without features; a dry run unless --delete."

    def add_arguments(self, parser):
        parser.add_argument("--delete", action="store_true", help="Remove them (default: only list them).")
        parser.add_argument(
            "--min-age", type=float, default=60, metavar="MINUTES",
            help="Leave files younger than this (default 60): an upload's file is stored before its row commits.",
        )

    def handle(self, delete, min_age, **options):
        if min_age < 0:
            raise CommandError("--min-age cannot be negative.")
        orphans = find_orphans(min_age=datetime.timedelta(minutes=min_age))
        for orphan in orphans:
            self.stdout.write(f"{filesizeformat(orphan.size):>10}  {orphan.name}")
        total = sum(orphan.size for orphan in orphans)
        summary = f"{len(orphans)} orphaned file{'' if len(orphans) == 1 else 's'}, {filesizeformat(total)}"
        if not orphans:
            self.stdout.write("No orphaned files.")
        elif delete:
            remove_orphans(orphans)
            self.stdout.write(self.style.SUCCESS(f"Removed {summary}."))
        else:
            self.stdout.write(f"{summary} would be removed (a dry run: --delete removes them).")

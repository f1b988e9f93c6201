"""manage.py make_demo_corpus: render works from music21's corpus and import them as "Demo corpus"."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from catalog import demo_corpus, importers
from catalog.models import Dataset


class Command(BaseCommand):
    help = (
        "Render excerpts of real works (music21's corpus) by several ensembles to WAV + MIDI, "
        "reusing files already rendered, and import them in place into the dataset “Demo corpus”."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, metavar="N", help="Render and import only the first N excerpts.")
        parser.add_argument(
            "--seconds", type=float, default=demo_corpus.DEFAULT_SECONDS, metavar="S",
            help=f"Excerpt length (default {demo_corpus.DEFAULT_SECONDS:g}); shorter works give shorter excerpts.",
        )
        parser.add_argument(
            "--output", metavar="DIR", help="Cache folder of the rendered files (default DATA_DIR/demo-corpus)."
        )
        parser.add_argument(
            "--soundfont", default=demo_corpus.DEFAULT_SOUNDFONT, metavar="NAME|FILE",
            help=f"SoundFont to render with: one of {', '.join(demo_corpus.SOUNDFONTS)} (default "
            f"{demo_corpus.DEFAULT_SOUNDFONT}, pretty_midi's own) or a .sf2/.sf3 file. Another one renders "
            "into a subfolder of its own and imports into “Demo corpus (its name)”, slug demo-NAME.",
        )
        parser.add_argument("--dataset", metavar="SLUG", help="Import into this dataset instead (created if missing).")

    def handle(self, *args, limit, seconds, output, soundfont, dataset, **options):
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1.")
        if seconds <= 0:
            raise CommandError("--seconds must be positive.")
        root = Path(output or settings.DATA_DIR / "demo-corpus").expanduser().resolve()
        try:
            font = demo_corpus.find_soundfont(soundfont)
            slug, name = font.dataset
            excerpts = demo_corpus.plan(seconds=seconds, limit=limit, soundfont=font)
            dataset = importers.dataset_for(
                Dataset.SourceKind.DEMO, root, slug=dataset or slug, name=name if dataset in (None, slug) else dataset
            )
            rendered = 0
            for excerpt in excerpts:
                fresh = demo_corpus.render(excerpt, root)
                rendered += fresh
                if options["verbosity"] >= 2:  # a line per excerpt; the summary below says enough
                    self.stdout.write(f"{'rendered' if fresh else 'reused  '} {excerpt.audio_name}")
        except (importers.DatasetImportError, demo_corpus.DemoCorpusError) as exc:
            raise CommandError(str(exc)) from exc

        summary = importers.run_import(dataset, demo_corpus.entries(excerpts, root), root=root, copy=False)
        self.stdout.write(
            f"{dataset} ({root}): {rendered} rendered, {len(excerpts) - rendered} reused, "
            f"{summary.imported} imported, {len(summary.skipped)} skipped, {len(summary.failed)} failed."
        )
        for external_id, reason in summary.failed:
            self.stdout.write(f"  failed {external_id}: {reason}")

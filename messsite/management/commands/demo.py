"""`manage.py demo` (`make demo`): the platform with a catalogue to try, in one command.

Starts the platform's engines as `manage.py up` does, builds the demo catalogue (real
works rendered by several ensembles, `make_demo_corpus`), picks the encoder (MERT when
its weights can be had, else musicnn, else the classic descriptors, saying why) and makes
its space active, extracts every demo track here, probes that space so the aspect map has
evidence, builds the similarity indices, creates a curator and an admin, then serves
web + worker.
Every step keeps what an earlier run made: a second run takes seconds.
"""

import os
import time

from django.conf import settings
from django.core.management import BaseCommand, CommandError, call_command

from analysis.encoder_choice import EncoderUnavailable, choose_encoder
from analysis.models import AUTO_ENCODER, Encoder
from analysis.services import activate_space
from catalog import demo_corpus
from catalog.models import Dataset, Track
from messsite import demo
from messsite.launcher import ensure_admin, ensure_curator, login_lines, platform_services, serve

# What `auto` falls back to when MERT cannot run, in a few words.
FALLBACKS = {Encoder.MUSICNN_CLASSIC: "a pretrained music tagger, its weights in its wheel, no download, "
                                      "stacked with the classic descriptors for harmony",
             Encoder.CLASSIC: "MIR descriptors, no download"}


class Command(BaseCommand):
    help = ("The demo platform: demo catalogue extracted, probed and indexed, a curator and an admin, "
            "then web + worker until Ctrl-C. Re-runs reuse everything already made.")

    def add_arguments(self, parser):
        parser.add_argument(
            "--encoder", choices=[AUTO_ENCODER, *Encoder.values], default=AUTO_ENCODER,
            help="auto (default): MERT + classic descriptors when MERT's weights load here (directory, Hugging "
                 "Face cache or a download), else musicnn (pretrained weights in its wheel) + classic, "
                 "else classic MIR descriptors alone.",
        )
        parser.add_argument("--no-serve", action="store_true", help="Prepare everything, then stop (tests, CI).")
        parser.add_argument("--limit", type=int, metavar="N", help="Only the first N excerpts of the demo corpus.")
        parser.add_argument("--seconds", type=float, default=demo_corpus.DEFAULT_SECONDS, metavar="S",
                            help=f"Excerpt length (default {demo_corpus.DEFAULT_SECONDS:g}).")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, encoder, no_serve, limit, seconds, host, port, web_workers, **options):
        self.phases = []
        began = time.perf_counter()
        interrupted = False
        try:
            with platform_services():
                self.phases.append(("services", time.perf_counter() - began, "database, broker, migrations, static"))
                chosen = self.step("encoder", self.choose_encoder, encoder)
                dataset = self.step("corpus", self.build_corpus, limit, seconds)
                space = self.step("extraction", self.extract, dataset, chosen)
                self.step("probe", self.probe, space, dataset)
                self.step("indexes", self.build_indexes)
                logins = self.step("accounts", self.accounts)
                self.summary(time.perf_counter() - began, space)
                if no_serve:
                    self.stdout.write(login_lines(logins) + "Prepared; `make demo` (without --no-serve) serves it.")
                else:
                    serve(self.stdout, self.stderr, host=host, port=port, web_workers=web_workers,
                          logins=logins, style=self.style)
        except KeyboardInterrupt:
            interrupted = True
        if interrupted or not no_serve:
            self.stdout.write("Stopped.")

    def step(self, name, function, *args):
        """Run one step; its wall time and outcome go into the summary."""
        self.stdout.write(self.style.MIGRATE_HEADING(f"== {name}"))
        began = time.perf_counter()
        result, outcome = function(*args)
        self.phases.append((name, time.perf_counter() - began, outcome))
        return result

    def choose_encoder(self, requested):
        try:
            encoder, why = choose_encoder(requested, self.stdout.write)
            # Active from now on: the import queues its encoder (extraction uses the active space's).
            space = demo.encoder_space(encoder)
        except EncoderUnavailable as exc:
            raise CommandError(str(exc)) from exc
        if encoder == Encoder.MERT_CLASSIC or requested == encoder:
            self.stdout.write(f"Encoder: {encoder} ({why}).")
            outcome = f"{encoder} ({why})"
        else:
            self.stdout.write(self.style.WARNING(f"{why}\nUsing the {encoder} encoder instead "
                                                 f"({FALLBACKS[encoder]}); `--encoder mert` makes MERT compulsory."))
            outcome = f"{encoder} (MERT unavailable, see above)"
        activate_space(space)
        self.stdout.write(f"Active embedding space: {space}")
        # The served worker resolves "auto" to it too, without probing MERT again.
        settings.MESS_ENCODER = os.environ["MESS_ENCODER"] = encoder
        return encoder, outcome

    def build_corpus(self, limit, seconds):
        call_command("make_demo_corpus", limit=limit, seconds=seconds, stdout=self.stdout, stderr=self.stderr)
        dataset = Dataset.objects.get(slug=demo_corpus.DATASET_SLUG)
        return dataset, f"{dataset.tracks.count()} tracks"

    def extract(self, dataset, encoder):
        tracks = list(dataset.tracks.order_by("pk"))
        try:
            space, asked = demo.extract_here(tracks, encoder, self.stderr)
        except EncoderUnavailable as exc:
            raise CommandError(str(exc)) from exc
        failed = list(dataset.tracks.filter(status=Track.Status.FAILED))
        for track in failed:
            self.stderr.write(self.style.WARNING(f"Not extracted: {track}: {track.error}"))
        if len(failed) == len(tracks):
            raise CommandError(f"No demo track could be extracted with the {encoder} encoder (see above).")
        return space, f"{asked - len(failed)} extracted, {len(tracks) - asked} already current" + (
            f", {len(failed)} failed" if failed else "")

    def probe(self, space, dataset):
        run, changed = demo.newest_probe_run(space, dataset)
        if run is not None and not changed:
            self.stdout.write(f"Probe run {run.pk} already covers these tracks; reusing it.")
            return run, f"run {run.pk} reused"
        if run is not None:
            self.stdout.write(self.style.WARNING(
                f"Tracks were added or removed since probe run {run.pk} ({run.tracks} tracks); the aspect map keeps "
                f"its evidence. To probe again: manage.py probe --space {space.pk} --dataset {dataset.slug}"))
            return run, f"run {run.pk} kept (tracks changed since; not re-probed)"
        with_features = space.features.filter(track__dataset=dataset).count()
        folds = demo.probe_folds(with_features)
        if folds is None:
            message = (f"Not probed: {with_features} tracks are too few (at least "
                       f"{2 * demo.PROBE_INNER_FOLDS}); aspects use their default layers.")
            self.stdout.write(self.style.WARNING(message))
            return None, "skipped (too few tracks)"
        try:
            # Quiet: the aspects it chose, not every target's best layer (the layers page shows those).
            call_command("probe", space=space.pk, dataset=dataset.slug, folds=folds, sync=True, verbosity=0,
                         stdout=self.stdout, stderr=self.stderr)
        except CommandError as exc:
            # The platform works without it (aspects fall back to their default layers): say so, go on.
            self.stderr.write(self.style.WARNING(f"{exc}\nAspects use their default layers until a probe succeeds."))
            return None, "FAILED (see above)"
        run = space.probe_runs.latest("created_at")
        return run, f"run {run.pk}, {run.tracks} tracks, {folds} folds"

    def build_indexes(self):
        call_command("build_indexes", verbosity=0, stdout=self.stdout, stderr=self.stderr)
        return None, "every layer of the active space"

    def accounts(self):
        curator, curator_password = ensure_curator()
        admin, admin_password = ensure_admin()
        logins = [(curator, curator_password, "curator: uploads, extraction, probes, pinned aspects"),
                  (admin, admin_password, "administrator")]
        return logins, f"{curator}, {admin}"

    def summary(self, total, space):
        self.stdout.write(self.style.SUCCESS(f"\nDemo ready in {total:.1f} s; active space: {space}"))
        for name, seconds, outcome in self.phases:
            self.stdout.write(f"  {name:<11}{seconds:7.1f} s  {outcome}")

"""`manage.py extract`: queue (or, with --sync, run here) extraction with MERT, musicnn or
the classic encoder; by default the active space's."""

from django.core.management import BaseCommand, CommandError

from analysis.models import JOB_ENCODER_CHOICES, Encoder
from analysis.services import default_encoder, request_extraction
from catalog.models import Dataset, Track


class Command(BaseCommand):
    help = "Extract embeddings: pending tracks (default), a dataset, or one track."

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--dataset", help="Every track of this dataset (slug).")
        which.add_argument("--track", type=int, help="One track, by id.")
        which.add_argument("--failed", action="store_true", help="Tracks whose extraction failed.")
        parser.add_argument("--force", action="store_true", help="Recompute even current embeddings.")
        parser.add_argument(
            "--encoder", choices=dict(JOB_ENCODER_CHOICES),
            help="Default: the active space's encoder; with none, MESS_ENCODER (auto: the worker's choice).",
        )
        parser.add_argument("--sync", action="store_true", help="Run here, with a progress bar, instead of queueing.")
        parser.add_argument(
            "--temporal", metavar="DIR",
            help="With --sync: also save full per-frame hidden states to DIR/track-<id>.npy (large).",
        )

    def handle(self, dataset, track, failed, force, encoder, sync, temporal, **options):
        encoder = encoder or default_encoder()
        if temporal and not sync:
            raise CommandError("--temporal needs --sync: the files are written where the command runs.")
        if temporal and encoder != Encoder.MERT:
            raise CommandError(f"--temporal keeps MERT's per-frame hidden states; the {encoder} encoder has none "
                               "(--encoder mert).")
        tracks = self.select(dataset, track, failed)
        if not tracks:
            self.stdout.write("No tracks to extract.")
            return
        jobs = request_extraction(tracks, force=force, encoder=encoder)
        if not sync:
            self.stdout.write(f"Queued extraction of {len(jobs)} track(s) on the ml queue.")
            return
        summary = run_here(jobs, self.stderr, temporal_dir=temporal)
        self.stdout.write(", ".join(f"{count} {state}" for state, count in sorted(summary.items())))

    def select(self, dataset, track, failed):
        if track is not None:
            found = list(Track.objects.filter(pk=track))
            if not found:
                raise CommandError(f"There is no track {track}.")
            return found
        if dataset:
            if not Dataset.objects.filter(slug=dataset).exists():
                raise CommandError(f"There is no dataset with slug {dataset!r}.")
            return list(Track.objects.filter(dataset__slug=dataset))
        status = Track.Status.FAILED if failed else Track.Status.PENDING
        return list(Track.objects.filter(status=status))


def run_here(jobs, stream, temporal_dir=None):
    """Run the jobs in this process (torch needed), one progress bar per track."""
    from tqdm import tqdm

    from analysis.extraction import run_extraction_job
    from analysis.models import ExtractionJob

    summary = {}
    for job in jobs:
        # leave=False: a finished bar goes, or a catalogue would leave a line per track.
        with tqdm(total=None, desc=str(job.track)[:40], unit="window", file=stream, disable=None, leave=False) as bar:

            def show(done, total, bar=bar):
                bar.total = total
                bar.update(done - bar.n)

            run_extraction_job(job.pk, worker="manage.py extract --sync", on_progress=show, temporal_dir=temporal_dir)
        state = ExtractionJob.objects.get(pk=job.pk).status
        summary[state] = summary.get(state, 0) + 1
    return summary

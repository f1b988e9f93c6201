"""`manage.py probe`: queue (or, with --sync, run here) layer discovery on a space."""

from django.conf import settings
from django.core.management import BaseCommand, CommandError

from analysis.models import EmbeddingSpace, ProbeResult, ProbeRun
from analysis.services import active_space, request_probe
from catalog.models import Dataset


class Command(BaseCommand):
    help = "Probe which layer of an embedding space predicts which proxy target (and so which aspect)."

    def add_arguments(self, parser):
        parser.add_argument("--space", type=int, help="Embedding space id (default: the active one).")
        parser.add_argument("--dataset", help="Only this dataset's tracks (slug); default: every track of the space.")
        parser.add_argument("--targets", help="Comma-separated target names (default: all).")
        parser.add_argument("--folds", type=int, default=5, help="Outer cross-validation folds (grouped by track).")
        parser.add_argument("--sync", action="store_true", help="Run here, with a progress bar, instead of queueing.")

    def handle(self, space, dataset, targets, folds, sync, **options):
        chosen = self.space(space)
        scope = None
        if dataset:
            scope = Dataset.objects.filter(slug=dataset).first()
            if scope is None:
                raise CommandError(f"There is no dataset with slug {dataset!r}.")
        names = [name.strip() for name in (targets or "").split(",") if name.strip()]
        try:
            run = request_probe(chosen, dataset=scope, targets=names, parameters={"folds": folds}, queue=not sync)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if not sync:
            self.stdout.write(f"Queued probe run {run.pk} on the ml queue; follow it at /api/v1/probes/{run.pk}/.")
            return
        run_here(run, self.stderr)
        self.report(ProbeRun.objects.get(pk=run.pk), options["verbosity"])

    def space(self, space_id):
        if space_id is None:
            space = active_space()
            if space is None:
                raise CommandError("No embedding space is active yet: extract some tracks first.")
            return space
        space = EmbeddingSpace.objects.filter(pk=space_id).first()
        if space is None:
            raise CommandError(f"There is no embedding space {space_id}.")
        return space

    def report(self, run, verbosity=1):
        if run.status != ProbeRun.Status.SUCCEEDED:
            raise CommandError(f"Probe run {run.pk} {run.status}: {run.error}")
        self.stdout.write(f"Probe run {run.pk}: {run.tracks} tracks, {run.windows} windows, "
                          f"{len(run.skipped)} left out.")
        if verbosity >= 1:  # the demo asks for less: the layers page shows the same
            self.best_layers(run)
        self.aspects(run)

    def best_layers(self, run):
        self.stdout.write("Best layer per target (R², mean over folds):")
        best = {}
        for result in ProbeResult.objects.filter(run=run, r2__isnull=False):
            if result.target not in best or result.r2 > best[result.target].r2:
                best[result.target] = result
        for spec in run.target_specs:
            result = best.get(spec["name"])
            where = f"layer {result.layer:>2}  R² {result.r2:6.3f}" if result else "no score"
            chance = run.baseline.get(spec["name"], {}).get("shuffled", {}).get("r2")
            shuffled = f"  (shuffled {chance:6.3f})" if chance is not None else ""
            self.stdout.write(f"  {spec['name']:<22} {spec['aspect']:<13} {where}{shuffled}")

    def aspects(self, run):
        self.stdout.write("Aspects (layers chosen; retrieval where the tracks carry labels; agreement):")
        for name, choice in run.aspect_choices.items():
            layers = ", ".join(f"{run.space.layer_label(int(layer))} ({weight:.0%})"
                               for layer, weight in choice["layers"].items())
            retrieval = choice["retrieval"]
            found = (f"; {retrieval['task']} {retrieval['metric']} {retrieval['score']:.3f} (best single layer "
                     f"{retrieval['best_layer_score']:.3f})") if retrieval else ""
            kept = ", kept from the previous map" if choice["kept_previous"] else ""
            self.stdout.write(f"  {name:<13} {layers}{found}; best in {choice['agreement']:.0%} of "
                              f"{choice['agreement_basis']}{kept}")
        minimum = settings.MESS_ASPECT_MIN_TRACKS
        if run.tracks < minimum:
            self.stdout.write(self.style.WARNING(
                f"The run probed {run.tracks} tracks, fewer than the {minimum} a run needs to set the aspect map "
                "(MESS_ASPECT_MIN_TRACKS): the map is unchanged."))


def run_here(run, stream):
    """Run the probe in this process (librosa needed), with a progress bar."""
    from tqdm import tqdm

    from analysis.probing import run_probe

    # Percent shown whole: the run reports fractions (one track of 52 is 1.92%).
    bar_format = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]"
    with tqdm(total=100, desc=f"probe run {run.pk}", bar_format=bar_format, file=stream, disable=None) as bar:

        def show(percent, stage):
            bar.set_postfix_str(stage)
            bar.update(percent - bar.n)

        run_probe(run.pk, on_progress=show)

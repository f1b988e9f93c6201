"""Does the aspect map hold when 5 % more tracks of the same kind arrive?

In one space: the map of a probe run over the demo corpus, then EXTRA excerpts rendered
and imported the same way (works of the demo in an ensemble the demo does not give them,
TimGM6mb) and extracted, a second run over the grown corpus, and each aspect's choice
compared. The second run replaces the first as the map run (both have enough tracks), so
it is the stability rule of analysis/aspect_choice.py that is measured. Afterwards the
extra tracks and the second run are removed, so the next bench starts as this one did.
"""

from pathlib import Path

from django.core.management import call_command
from django.db.models import Max

from catalog import demo_corpus, importers
from catalog.intake import delete_track
from catalog.models import Dataset
from recommendations.aspects import map_run, run_choices

# (work index in demo_corpus.WORKS, an ensemble it has no excerpt in): 3 = 5 % of 52.
EXTRA = ((15, "harpsichord"), (16, "harpsichord"), (12, "organ"))


def stability(space, stream):
    """([(aspect, layers before, layers after, kept_previous, agreement)], tracks before,
    tracks after, space)."""
    from messsite import demo

    dataset = Dataset.objects.get(slug=demo_corpus.DATASET_SLUG)
    before_count = dataset.tracks.count()
    first = probe_demo(space, dataset, stream)
    root = Path(dataset.tracks.first().audio_root)  # where make_demo_corpus rendered it
    excerpts = [demo_corpus.Excerpt(demo_corpus.WORKS[w], ensemble, demo_corpus.DEFAULT_SECONDS)
                for w, ensemble in EXTRA]
    for excerpt in excerpts:
        demo_corpus.render(excerpt, root)
    since = dataset.tracks.aggregate(last=Max("pk"))["last"]
    importers.run_import(dataset, demo_corpus.entries(excerpts, root), root=root, copy=False)
    extra = list(dataset.tracks.filter(pk__gt=since))
    try:
        demo.extract_here(extra, space.encoder, stream)
        second = probe_demo(space, dataset, stream, again=True)
        before, after = run_choices(first), run_choices(second)
        rows = [(name, before[name].layers, choice.layers, choice.kept_previous, choice.agreement)
                for name, choice in after.items() if name in before]
        after_count = second.tracks
        second.delete()
    finally:
        for track in extra:
            delete_track(track)
    return rows, before_count, after_count, space


def probe_demo(space, dataset, stream, again=False):
    """The map run when it covers exactly the dataset's tracks (and `again` is not asked), else a new run."""
    run = map_run(space)
    covered = run is not None and run.dataset_id == dataset.pk and run.tracks == dataset.tracks.count()
    if again or not covered:
        call_command("probe", space=space.pk, dataset=dataset.slug, sync=True, stdout=stream, stderr=stream)
        run = space.probe_runs.latest("created_at")
    return run


def print_table(rows, before_count, after_count, space):
    changed = [row for row in rows if row[1] != row[2]]
    print(f"\nAspect map stability in {space.name}: probed on {before_count} tracks, then on {after_count} "
          f"(+{after_count - before_count}, {after_count / before_count - 1:.0%} more of the same kind)")
    print(f"{'aspect':<14}{'before':<34}{'after':<34}{'kept in the noise':>18}{'agreement':>11}")
    for name, before, after, kept, agreement in rows:
        print(f"{name:<14}{_layers(space, before):<34}{_layers(space, after):<34}{'yes' if kept else '':>18}"
              f"{'' if agreement is None else f'{agreement:.0%}':>11}")
    print(f"changed: {len(changed)} of {len(rows)} aspects")


def _layers(space, layers):
    return ", ".join(space.layer_label(layer).removeprefix("Layer ") + (f" {w:.0%}" if len(layers) > 1 else "")
                     for layer, w in sorted(layers.items()))[:33]

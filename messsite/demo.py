"""The steps of `manage.py demo` that decide something: which encoder can run here (the
choice itself is analysis.encoder_choice, shared with workers), which demo tracks still
need extracting, whether a probe run's evidence is current.

Web-safe at import: the model code (torch, librosa) is loaded by the functions that run it.
"""

from analysis.embeddings import is_current
from analysis.models import ProbeRun, TrackFeatures
from analysis.services import request_extraction
from catalog.models import Track

# The probe's folds (analysis/probing.py): 5 outer, each training part split 3 ways by track.
PROBE_FOLDS, PROBE_INNER_FOLDS = 5, 3


def encoder_space(encoder):
    """The embedding space of `encoder` as configured here, its model loaded in this
    process (EncoderUnavailable when it cannot be)."""
    from analysis.extraction import load_encoder, space_for

    return space_for(load_encoder(encoder))


def extract_here(tracks, encoder, stream):
    """Extract, in this process with a progress bar per track, the `tracks` that have no
    current embeddings in `encoder`'s space (or are not ready). Returns (space, how many
    were extracted or tried)."""
    from analysis.management.commands.extract import run_here

    space = encoder_space(encoder)
    pending = [track for track in tracks if track.status != Track.Status.READY or not is_current(track, space)]
    # Joins the jobs the import queued for these tracks (with the same encoder) instead of adding more.
    run_here(request_extraction(pending, encoder=encoder), stream)
    return space, len(pending)


def newest_probe_run(space, dataset):
    """(the newest succeeded probe run of `space` over `dataset`, or None; whether tracks
    were added to or removed from it since that run started). A restart reuses the run
    either way: a new probe can change the aspect map, so it is a deliberate step
    (`manage.py probe`), never a side effect of starting the platform."""
    run = (ProbeRun.objects.filter(space=space, dataset=dataset, status=ProbeRun.Status.SUCCEEDED)
           .order_by("-finished_at").first())
    if run is None:
        return None, False
    features = TrackFeatures.objects.filter(space=space, track__dataset=dataset)
    changed = features.count() != run.tracks + len(run.skipped) or features.filter(created_at__gt=run.started_at).exists()
    return run, changed


def probe_folds(tracks):
    """Outer folds for probing `tracks` tracks: the probe's 5 where there are enough,
    fewer for a small catalogue, None when too few for any."""
    folds = min(PROBE_FOLDS, tracks // PROBE_INNER_FOLDS)
    return folds if folds >= 2 else None

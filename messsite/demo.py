"""The steps of `manage.py demo` that decide something: which encoder can run here,
which demo tracks still need extracting, whether a probe run's evidence is current.

Web-safe at import: the model code (torch, librosa) is loaded by the functions that run
it. MERT's files are looked for here first (no torch); the model is then loaded by the
real loader in a child process with a time limit, and a download is tried only when the
Hub answers at once, so a machine without MERT learns it in seconds.
"""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

from django.conf import settings
from huggingface_hub import constants as hub_constants

from analysis.conf import setting
from analysis.embeddings import is_current
from analysis.mert_files import MertLoadError, offline, resolve_files
from analysis.models import Encoder, ProbeRun, TrackFeatures
from analysis.services import request_extraction
from catalog.models import Track

AUTO = "auto"
CACHED_LOAD_SECONDS = 300  # from the cache or a directory MERT loads in seconds; beyond, something hangs
DOWNLOAD_SECONDS = 1800  # MERT-v1-95M is about 380 MB
HUB_ANSWER_SECONDS = 5
# The probe's folds (analysis/probing.py): 5 outer, each training part split 3 ways by track.
PROBE_FOLDS, PROBE_INNER_FOLDS = 5, 3

# Run in a child process: the real loader, told which model by the parent's settings.
_LOAD_MERT = """
import json, sys
from analysis.mert import MertLoadError, load_mert
try:
    load_mert(**json.loads(sys.argv[1]))
except MertLoadError as exc:
    print(json.dumps(str(exc)))
else:
    print(json.dumps(None))
"""


class EncoderUnavailable(Exception):
    """The encoder asked for cannot run here; the message says why and what to do."""


def choose_encoder(requested, say):
    """(encoder, why): `requested` when it is "classic" or "mert" (EncoderUnavailable
    when MERT's weights cannot be had), else MERT when it loads here and the classic
    encoder otherwise. `say` reports what is being tried (a download can take minutes)."""
    if requested == Encoder.CLASSIC:
        return Encoder.CLASSIC, "asked for"
    say(f"Trying MERT ({setting('MERT_MODEL')})...")
    problem = mert_problem(say)
    if problem is None:
        return Encoder.MERT, "its weights load here"
    if requested == Encoder.MERT:
        raise EncoderUnavailable(f"MERT cannot be used here: {problem}")
    return Encoder.CLASSIC, f"MERT is not used: {problem}"


def mert_problem(say):
    """None when MERT, as configured, loads here: from a directory, the Hugging Face
    cache, or a download when the Hub answers and downloads are allowed (HF_HUB_OFFLINE
    unset). Otherwise why not: the loader's message."""
    model_id = str(setting("MERT_MODEL"))
    try:
        resolve_files(model_id, setting("MERT_REVISION"), cache_only=True)
    except MertLoadError as exc:
        missing = str(exc)
    else:
        # The files are here: the real loader (config, weights' shapes, device) decides.
        return load_mert_in_child(cache_only=True, timeout=CACHED_LOAD_SECONDS)
    if offline(model_id):
        return missing
    unreachable = hub_unreachable()
    if unreachable:
        return f"{missing} The Hugging Face Hub does not answer here ({unreachable})."
    say("Not in the cache: downloading it from the Hugging Face Hub (once; the cache keeps it)...")
    return load_mert_in_child(cache_only=False, timeout=DOWNLOAD_SECONDS)


def load_mert_in_child(*, cache_only, timeout):
    """Load MERT with analysis.mert in a child process: None when it loads, else why not.
    `cache_only` runs it with HF_HUB_OFFLINE=1; else a download's progress is shown."""
    options = {
        "model_id": str(setting("MERT_MODEL")),
        "revision": setting("MERT_REVISION"),
        "device": setting("MERT_DEVICE"),
        "precision": setting("MERT_PRECISION"),
        "trust_remote_code": bool(setting("MERT_TRUST_REMOTE_CODE")),
    }
    env = {**os.environ, "HF_HUB_OFFLINE": "1"} if cache_only else os.environ
    try:
        result = subprocess.run(
            [sys.executable, "-c", _LOAD_MERT, json.dumps(options)], cwd=settings.BASE_DIR, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE if cache_only else None, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return f"loading {options['model_id']} took more than {timeout} s, so it was stopped."
    lines = result.stdout.strip().splitlines()
    if result.returncode == 0 and lines:
        return json.loads(lines[-1])
    # Not the loader's refusal but a crash (a gated repository, a broken file, no memory...).
    last = (result.stderr or "").strip().splitlines()
    why = last[-1] if last else f"exit status {result.returncode} (see above)"
    return f"loading {options['model_id']} failed: {why}"


def hub_unreachable(timeout=HUB_ANSWER_SECONDS):
    """None when the Hugging Face Hub (HF_ENDPOINT) answers within `timeout`, else the
    error: one try, where the Hub client would retry for half a minute before giving up."""
    try:
        urllib.request.urlopen(urllib.request.Request(hub_constants.ENDPOINT, method="HEAD"), timeout=timeout).close()
    except urllib.error.HTTPError:
        return None  # it answered
    except (OSError, ValueError) as exc:
        return f"{hub_constants.ENDPOINT}: {getattr(exc, 'reason', None) or exc}"
    return None


def extract_here(tracks, encoder, stream):
    """Extract, in this process with a progress bar per track, the `tracks` that have no
    current embeddings in `encoder`'s space (or are not ready). Returns (space, how many
    were extracted or tried)."""
    from analysis.extraction import load_encoder, space_for
    from analysis.management.commands.extract import run_here

    try:
        space = space_for(load_encoder(encoder))
    except MertLoadError as exc:
        raise EncoderUnavailable(f"MERT could not be loaded here: {exc}") from exc
    pending = [track for track in tracks if track.status != Track.Status.READY or not is_current(track, space)]
    # Joins the jobs the import queued for these tracks (with the same encoder) instead of adding more.
    run_here(request_extraction(pending, encoder=encoder), stream)
    return space, len(pending)


def current_probe_run(space, dataset):
    """The newest succeeded probe run of `space` over `dataset` that saw the tracks that
    have features there now (none added or removed since it started), else None."""
    run = (ProbeRun.objects.filter(space=space, dataset=dataset, status=ProbeRun.Status.SUCCEEDED)
           .order_by("-finished_at").first())
    if run is None:
        return None
    features = TrackFeatures.objects.filter(space=space, track__dataset=dataset)
    if features.count() != run.tracks + len(run.skipped) or features.filter(created_at__gt=run.started_at).exists():
        return None
    return run


def probe_folds(tracks):
    """Outer folds for probing `tracks` tracks: the probe's 5 where there are enough,
    fewer for a small catalogue, None when too few for any."""
    folds = min(PROBE_FOLDS, tracks // PROBE_INNER_FOLDS)
    return folds if folds >= 2 else None

"""Which encoder runs here: MESS_ENCODER=auto takes MERT stacked with the classic
descriptors when MERT's weights load, else musicnn + classic when musicnn's wheel (which
holds its pretrained weights) is installed, else the classic descriptors, and says why. Used by `manage.py demo` and by workers for jobs
left to their choice ("auto").

Web-safe at import: no torch, no librosa. MERT's files are looked for here first; the
model is then loaded by the real loader in a child process with a time limit, and a
download is tried only when the Hub answers at once, so a machine without MERT learns it
in seconds. musicnn's wheel is found, not imported.
"""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from importlib.util import find_spec

from django.conf import settings
from huggingface_hub import constants as hub_constants

from analysis.conf import setting
from analysis.mert_files import MertLoadError, offline, resolve_files
from analysis.models import AUTO_ENCODER, Encoder, stack_members

CACHED_LOAD_SECONDS = 300  # from the cache or a directory MERT loads in seconds; beyond, something hangs
DOWNLOAD_SECONDS = 1800  # MERT-v1-95M is about 380 MB
HUB_ANSWER_SECONDS = 5

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
    """(encoder, why): `requested` when it names an encoder or a stack (EncoderUnavailable
    when a member cannot run here), else ("auto") the best stack that runs here: MERT +
    classic when MERT loads, musicnn + classic when musicnn's wheel is installed, the
    classic encoder alone otherwise. A learned model's layers serve timbre and genre, the
    classic tonal layers harmony (bench/quality). `say` reports what is being tried (a
    MERT download can take minutes)."""
    if requested != AUTO_ENCODER:
        if requested not in Encoder.values:
            raise ValueError(f"Unknown encoder {requested!r}; known: {AUTO_ENCODER}, {', '.join(Encoder.values)}.")
        for member in stack_members(requested):
            problem = _problem(member, say)
            if problem is not None:
                raise EncoderUnavailable(f"{Encoder(member).label} cannot be used here: {problem}")
        return requested, "asked for"
    problem = _problem(Encoder.MERT, say)
    if problem is None:
        return Encoder.MERT_CLASSIC, "MERT's weights load here; the classic layers add harmony"
    missing = musicnn_problem()
    if missing is None:
        return Encoder.MUSICNN_CLASSIC, (
            f"MERT is not used: {problem} musicnn's pretrained weights ship with MESS; "
            "the classic layers add harmony."
        )
    return Encoder.CLASSIC, f"MERT is not used: {problem} Nor is musicnn: {missing}"


def _problem(encoder, say):
    """None when the single encoder `encoder` can run here, else why not."""
    if encoder == Encoder.MUSICNN:
        return musicnn_problem()
    if encoder == Encoder.MERT:
        say(f"Trying MERT ({setting('MERT_MODEL')})...")
        return mert_problem(say)
    return None  # classic needs nothing


def musicnn_problem():
    """None when musicnn's wheel (code and weights) is installed, else what to do."""
    if find_spec("musicnn") is None:
        return "its wheel is not installed: pip install --no-deps -r requirements/musicnn.txt (`make` does it)."
    return None


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

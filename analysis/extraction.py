"""Running one extraction job on a worker: audio -> encoder -> stored embeddings.

Worker-only (imports the model code). The job row is the single source of truth: a
duplicate delivery finds it finished and does nothing; a failure is written on the job
and on the track, for people (services.fail_job), and never stops the worker. A job left
to the worker's choice ("auto") records the encoder that runs it when it starts.
"""

import functools
import logging
import time
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from analysis.conf import setting
from analysis.embeddings import is_current, local_file, save_window_features, store_track_embeddings
from analysis.encoder_choice import EncoderUnavailable, choose_encoder
from analysis.mert import MertLoadError, load_mert
from analysis.models import (
    AUTO_ENCODER, STACK_SEPARATOR, ClipQuery, EmbeddingSpace, Encoder, ExtractionJob, stack_members,
)
from analysis.pipeline import AudioDecodeError
from analysis.progress import throttled
from analysis.services import activate_space, active_space, fail_job
from catalog.duplicates import find_near_duplicates
from catalog.models import Track
from catalog.peaks import PeaksUnavailable, track_peaks_json

log = logging.getLogger(__name__)
Status = ExtractionJob.Status


def run_extraction_job(job_id, *, worker="", on_progress=None, temporal_dir=None):
    """Run one job; with `temporal_dir`, also save the full per-frame hidden states there
    as `track-<id>.npy` (float16 [windows, layers, frames, dim]: large, so only on request)."""
    job = ExtractionJob.objects.filter(pk=job_id, status__in=ExtractionJob.ACTIVE_STATES).select_related("track").first()
    if job is None:
        log.debug("extraction job %s is finished or gone; nothing to do", job_id)
        return None
    track = job.track
    loading_started = time.perf_counter()
    try:
        model = load_encoder(job.encoder)
    except EncoderUnavailable as exc:
        # A configuration problem, not the track's: say so, with the loader's instructions.
        fail_job(job.pk, str(exc))
        return job
    load_seconds = time.perf_counter() - loading_started
    space = space_for(model)
    if job.encoder != model.encoder and not _record_encoder(job, model.encoder, space):
        return job
    if not job.force and is_current(track, space):
        _finish(job, track, space=space)
        return job

    now = timezone.now()
    ExtractionJob.objects.filter(pk=job.pk).update(
        status=Status.RUNNING, space=space, worker=worker, started_at=now, heartbeat_at=now,
        attempts=job.attempts + 1, progress=0, windows_done=0, error="",
        load_seconds=load_seconds if load_seconds > 0.5 else None,  # cached models cost nothing
    )
    Track.objects.filter(pk=track.pk).update(status=Track.Status.PROCESSING, error="")
    started = time.perf_counter()
    try:
        # Per-frame hidden states exist only for MERT (the command refuses the rest).
        temporal = {"temporal_path": Path(temporal_dir) / f"track-{track.pk}.npy"} if temporal_dir else {}
        with local_file(track.storage, track.audio_path) as path:
            result = model.encode(
                path, window_seconds=space.window_seconds, overlap=space.overlap,
                on_progress=_progress_reporter(job.pk, on_progress),
                name=track.metadata.get("original_name") or track.file_name, **temporal,
            )
    except AudioDecodeError as exc:
        fail_job(job.pk, str(exc))
        return job
    store_track_embeddings(
        track, space, track_mean=result.track_mean, window_means=result.window_means,
        window_starts=result.window_starts, tags=result.tags,
    )
    find_near_duplicates(track, space)  # for the curators: a re-encoded copy of another track
    _finish(job, track, space=space, extract_seconds=time.perf_counter() - started)
    warm_peaks(track)
    return job


def warm_peaks(track):
    """Outline the track's waveform here in the worker, so that the first visit to its page
    does not wait for a long recording to be read by the web process."""
    try:
        track_peaks_json(track)
    except PeaksUnavailable as exc:  # the page says so itself; the embeddings stand
        log.warning("Track %s: no waveform peaks: %s", track.pk, exc.message)


def _record_encoder(job, encoder, space):
    """Write on a job left to the worker's choice the encoder that runs it. When the track
    already has a queued or running job of that encoder (one per track and encoder), that
    job does the work: this one is closed, joined to it (passing on its `force`); False."""
    try:
        with transaction.atomic():
            ExtractionJob.objects.filter(pk=job.pk).update(encoder=encoder)
    except IntegrityError:
        if job.force:
            ExtractionJob.objects.filter(
                track=job.track_id, encoder=encoder, status__in=ExtractionJob.ACTIVE_STATES
            ).update(force=True)
        ExtractionJob.objects.filter(pk=job.pk).update(
            status=Status.SUCCEEDED, encoder=encoder, space=space, progress=100, finished_at=timezone.now()
        )
        log.info("extraction job %s joins the %s job already active for track %s", job.pk, encoder, job.track_id)
        return False
    job.encoder = encoder
    return True


def load_encoder(name):
    """The encoder `name` (models.Encoder, or "auto": auto_encoder()) names: MERT or musicnn
    as configured, the classic descriptors, which need nothing, or a stack of them.
    EncoderUnavailable, with the loader's instructions, when weights cannot be had."""
    if name == AUTO_ENCODER:
        return load_encoder(auto_encoder())
    if STACK_SEPARATOR in name:
        from analysis.stack import StackedEncoder

        return StackedEncoder([load_encoder(member) for member in stack_members(name)])
    if name == Encoder.CLASSIC:
        from analysis.classic import ClassicEncoder

        return ClassicEncoder()
    if name == Encoder.MUSICNN:
        from analysis.musicnn.encoder import MusicnnLoadError, load_musicnn

        try:
            return load_musicnn()
        except MusicnnLoadError as exc:
            raise EncoderUnavailable(f"The musicnn model could not be loaded: {exc}") from exc
    if name == Encoder.MERT:
        try:
            return load_mert()
        except MertLoadError as exc:
            raise EncoderUnavailable(f"The MERT model could not be loaded: {exc}") from exc
    raise ValueError(f"Unknown encoder {name!r}; known: {AUTO_ENCODER}, {', '.join(Encoder.values)}.")


def auto_encoder():
    """The encoder of this process for work left to its choice ("auto"): MESS_ENCODER when
    it names one, else auto_choice()."""
    configured = settings.MESS_ENCODER
    return auto_choice() if configured == AUTO_ENCODER else configured


@functools.cache
def auto_choice():
    """MERT when its weights load here, else musicnn, else classic (analysis.encoder_choice):
    chosen once per process, since probing a MERT that is not there takes seconds, and logged
    with the reason."""
    encoder, why = choose_encoder(AUTO_ENCODER, log.info)
    log.info("MESS_ENCODER=auto: the %s encoder runs the jobs left to this worker (%s).", encoder, why)
    return encoder


def space_for(model):
    """The embedding space of this encoder, weights and windowing, created on first use;
    the first space ever made becomes the active one. Encoders cut the platform's windows
    (MESS_MERT_WINDOW_SECONDS, MESS_MERT_OVERLAP) unless they have windows of their own."""
    window_seconds, overlap = model.own_windows or (setting("MERT_WINDOW_SECONDS"), setting("MERT_OVERLAP"))
    space, created = EmbeddingSpace.objects.get_or_create(
        encoder=model.encoder,
        model_id=model.model_id,
        weights_hash=model.weights_hash,
        window_seconds=window_seconds,
        overlap=overlap,
        defaults=dict(
            name=f"{Path(model.model_id).name} · {model.weights_hash[:8]} · "
                 f"{window_seconds:g} s windows, {overlap:.0%} overlap",
            revision=model.revision or "",
            layer_names=list(model.layer_names),
            layer_dims=list(model.layer_dims),
            num_layers=model.num_layers,
            dim=model.dim,
            sample_rate=model.sample_rate,
        ),
    )
    if created and not EmbeddingSpace.objects.filter(is_active=True).exists():
        activate_space(space)
        space.refresh_from_db()
    return space


def _progress_reporter(job_id, also=None):
    """Progress on the job at most once a second: a heartbeat as well as a number."""

    def write(done, total):
        ExtractionJob.objects.filter(pk=job_id).update(
            windows_done=done, windows_total=total, progress=round(100 * done / max(total, 1), 1),
            heartbeat_at=timezone.now(),
        )

    return throttled(write, also, final=lambda done, total: done == total)


def _finish(job, track, *, space, extract_seconds=None):
    with transaction.atomic():
        ExtractionJob.objects.filter(pk=job.pk).update(
            status=Status.SUCCEEDED, space=space, progress=100, finished_at=timezone.now(),
            extract_seconds=extract_seconds,
        )
        Track.objects.filter(pk=track.pk).update(status=Track.Status.READY, error="")


class ClipSpaceMismatch(Exception):
    """The worker's encoder is not the active space's: the message says what to change."""


def run_clip_query(clip_id):
    """Embed a search clip as a track would be, keep its window means, drop its audio."""
    states = ClipQuery.Status
    clip = ClipQuery.objects.filter(pk=clip_id, status__in=[states.QUEUED, states.RUNNING]).first()
    if clip is None:
        return None
    try:
        # The clip is searched in the active space, so it is embedded by that space's encoder.
        active = active_space()
        model = load_encoder(active.encoder if active else auto_encoder())
        ClipQuery.objects.filter(pk=clip.pk).update(status=states.RUNNING)
        space = active or space_for(model)
        if model.weights_hash != space.weights_hash:
            raise ClipSpaceMismatch(
                f"The worker's {model.encoder} encoder ({model.model_id}) is not the one of the active space "
                f"{space}: its clips would not compare with the catalogue. Configure the same model or "
                "activate another space."
            )
        with local_file(default_storage, clip.audio_path) as path:
            result = model.encode(path, window_seconds=space.window_seconds, overlap=space.overlap,
                                  name=clip.original_name)
    except (EncoderUnavailable, AudioDecodeError, ClipSpaceMismatch) as exc:
        ClipQuery.objects.filter(pk=clip.pk).update(
            status=states.FAILED, error=str(exc), finished_at=timezone.now(), audio_path=""
        )
        default_storage.delete(clip.audio_path)  # a failed clip is never retried: its audio has no use
        return clip
    features = save_window_features(f"clips/{clip.pk}", result.window_means)
    ClipQuery.objects.filter(pk=clip.pk).update(
        status=states.SUCCEEDED, space=space, features_path=features, finished_at=timezone.now(),
        window_starts=[round(float(start), 4) for start in result.window_starts], audio_path="",
    )
    default_storage.delete(clip.audio_path)  # the embedding is what searches need
    return clip

"""Layer discovery end to end with the tiny MERT-shaped checkpoint: generated tracks are
extracted in-process, probed (targets from their audio, ridge probes per layer), the run
is stored, served by the API and exported, and its aspect map drives `aspect=`."""

import csv
import io
import json
import time

import numpy as np
import pytest
from django.core.management import call_command

from analysis.models import EmbeddingSpace, ProbeResult, ProbeRun
from analysis.probing import run_probe
from analysis.services import request_probe
from analysis.target_specs import target_names
from catalog.models import Track
from recommendations.aspects import aspect_map
from recommendations.recommender import similar_tracks
from tests.conftest import TINY_LAYERS
from tests.factories import (
    audio_bytes, make_dataset, make_user, noise, run_queued_extraction, token_for, tone, write_audio, write_midi,
)
from tests.test_recommendations_api import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_tiny_mert")]
PROBES = "/api/v1/probes/"
TARGETS = ["spectral_centroid", "spectral_rolloff", "onset_density", "rms_level"]  # in registry order
SAMPLE_RATE = 22050  # of tests.factories' signals


def add_tracks(dataset, count, seconds=8.0):
    """`count` extracted tracks: tones from low to high over noise, at different levels."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from catalog.intake import ingest_upload

    tracks = []
    for i in range(count):
        signal = tone(seconds=seconds, freq=150 * 1.35**i, amplitude=0.1 + 0.05 * (i % 4))
        signal = signal + 0.5 * (i % 3) * noise(seconds=seconds, seed=i) / 10
        track = ingest_upload(dataset, SimpleUploadedFile(f"t{i}.wav", audio_bytes(signal)), title=f"tone {i}")
        run_queued_extraction(track)
        tracks.append(track)
    return tracks


@pytest.fixture(autouse=True)
def small_runs_set_the_map(settings):
    """These catalogues are small; the minimum a run needs to set the map is tested on its own."""
    settings.MESS_ASPECT_MIN_TRACKS = 2


@pytest.fixture
def catalogue():
    dataset = make_dataset("Tones")
    return dataset, add_tracks(dataset, 9)


def probe(parameters=None, targets=TARGETS, **kwargs):
    space = EmbeddingSpace.objects.get(is_active=True)
    run = request_probe(space, targets=targets, parameters={"folds": 3, **(parameters or {})}, queue=False, **kwargs)
    run_probe(run.pk)
    run.refresh_from_db()
    return run


def test_a_run_scores_every_layer_and_target_and_becomes_the_aspect_map(catalogue):
    run = probe()
    assert run.status == ProbeRun.Status.SUCCEEDED, run.error
    assert (run.tracks, run.windows, run.skipped) == (9, 27, [])  # 8 s: windows at 0, 2.5 and 3 s
    assert ProbeResult.objects.filter(run=run).count() == TINY_LAYERS * len(TARGETS)
    assert [spec["name"] for spec in run.target_specs] == TARGETS
    assert {spec["aspect"] for spec in run.target_specs} == {"brightness", "dynamics", "rhythm"}
    centroid = ProbeResult.objects.filter(run=run, target="spectral_centroid")
    assert all(np.isfinite(r.r2) and len(r.alphas) == 3 for r in centroid)
    assert set(run.weighted) == set(TARGETS) and len(run.weighted["rms_level"]["weights"]) == TINY_LAYERS
    assert run.baseline["rms_level"]["shuffled"]["r2"] is not None
    assert run.progress == 100 and set(run.timings) == {"targets_and_features", "probes", "aspects"}

    brightness = aspect_map(run.space)["brightness"]
    assert (brightness.source, brightness.run) == (f"probe run {run.pk}", run.pk)
    best = max(centroid.union(ProbeResult.objects.filter(run=run, target="spectral_rolloff")), key=lambda r: r.r2)
    assert set(brightness.evidence) == {"spectral_centroid", "spectral_rolloff"}
    assert brightness.r2 == pytest.approx(np.mean(list(brightness.evidence.values())))
    if len(brightness.layers) == 1:  # a single best layer, unless the weighted probe beat it
        assert brightness.layers == {best.layer: 1.0} or brightness.r2 >= best.r2 / 2
    assert aspect_map(run.space)["timbre"].source.startswith("default")  # no timbre target probed

    query = catalogue[1][0]
    found = similar_tracks(query, aspect="brightness", k=3)
    assert found.layers == brightness.layers and f"probe run {run.pk}" in found.description


def test_an_unreadable_track_is_left_out_with_its_reason(catalogue):
    damaged = catalogue[1][4]
    with open(damaged.storage.path(damaged.audio_path), "r+b") as f:
        f.seek(44)
        f.write(b"\x00garbage" * 20)
        f.truncate(200)
    run = probe(parameters={"inner_folds": 2})  # 8 tracks left: 3 x 2 folds
    assert run.status == ProbeRun.Status.SUCCEEDED, run.error
    assert run.tracks == 8
    [(track_id, reason)] = run.skipped
    assert track_id == damaged.pk and "damaged" in reason


def test_too_few_tracks_fail_the_run_with_a_reason():
    add_tracks(make_dataset("Two"), 2, seconds=6.0)
    run = probe()
    assert run.status == ProbeRun.Status.FAILED
    assert "Cannot probe" in run.error and "track" in run.error


def test_unknown_targets_are_refused_before_a_run_exists(catalogue):
    with pytest.raises(ValueError, match="Unknown target.*loudness_war"):
        probe(targets=["spectral_centroid", "loudness_war"])
    assert not ProbeRun.objects.exists()


def test_the_command_runs_here_and_prints_the_best_layers(catalogue, capsys, settings):
    call_command("probe", "--sync", "--folds", "3", "--targets", "spectral_centroid,rms_level")
    out = capsys.readouterr().out
    run = ProbeRun.objects.get()
    assert run.status == ProbeRun.Status.SUCCEEDED
    assert f"Probe run {run.pk}: 9 tracks, 27 windows" in out
    assert "spectral_centroid" in out and "rms_level" in out and "R²" in out
    assert "  brightness    Layer " in out and "of outer folds (R²)" in out and "the map is unchanged" not in out
    assert aspect_map(run.space)["brightness"].run == run.pk

    settings.MESS_ASPECT_MIN_TRACKS = 10
    call_command("probe", "--sync", "--folds", "3", "--targets", "spectral_centroid,rms_level")
    out = capsys.readouterr().out
    assert "The run probed 9 tracks, fewer than the 10 a run needs to set the aspect map" in out
    assert aspect_map(run.space)["brightness"].run is None  # neither run of 9 tracks sets it now


# --- API ----------------------------------------------------------------------------------


def staff_client(client):
    curator = make_user("curator", staff=True, curator=True)
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {token_for(curator)}"
    return client


def test_staff_start_runs_others_only_read(client, catalogue):
    body = {"targets": ["spectral_centroid"], "folds": 3}
    assert_error(client.post(PROBES, body, content_type="application/json"), 401, "not_authenticated")
    listener = make_user("listener")
    denied = client.post(PROBES, body, content_type="application/json",
                         HTTP_AUTHORIZATION=f"Token {token_for(listener)}")
    assert_error(denied, 403, "permission_denied")

    response = staff_client(client).post(PROBES, body, content_type="application/json")
    assert response.status_code == 202, response.content
    run = ProbeRun.objects.get(pk=response.json()["id"])
    assert (run.status, run.targets, run.parameters) == ("queued", ["spectral_centroid"], {"folds": 3})
    assert run.space == EmbeddingSpace.objects.get(is_active=True) and run.requested_by.username == "curator"


@pytest.mark.parametrize("body, field", [
    ({"targets": ["spectral_centroid", "nope"]}, "targets"),
    ({"folds": 1}, "folds"),
    ({"dataset": "no-such-dataset"}, "dataset"),
    ({"space": 999999}, "space"),
])
def test_bad_probe_requests_are_400_naming_the_field(client, catalogue, body, field):
    response = staff_client(client).post(PROBES, body, content_type="application/json")
    assert list(assert_error(response, 400, "invalid")["fields"]) == [field]


def test_a_finished_run_serves_its_heatmap_and_exports(client, catalogue):
    run = probe()
    detail = client.get(f"{PROBES}{run.pk}/").json()
    assert detail["status"] == "succeeded" and detail["tracks"] == 9
    heatmap = detail["heatmap"]
    assert heatmap["layers"] == list(range(TINY_LAYERS)) and heatmap["targets"] == TARGETS
    stored = ProbeResult.objects.get(run=run, layer=1, target="rms_level")
    assert heatmap["r2"][1][TARGETS.index("rms_level")] == pytest.approx(stored.r2)
    assert [r["id"] for r in client.get(PROBES, {"status": "succeeded"}).json()["results"]] == [run.pk]

    exported = client.get(f"{PROBES}{run.pk}/export/").json()
    assert exported["layers"]["1"]["rms_level"]["r2"] == pytest.approx(stored.r2)
    assert set(exported["layers"]["0"]["rms_level"]) == {"r2", "r2_std", "corr", "corr_std", "rmse", "rmse_std"}
    assert exported["weighted"] == json.loads(json.dumps(run.weighted))

    response = client.get(f"{PROBES}{run.pk}/export/", {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == TINY_LAYERS * len(TARGETS) + len(TARGETS)
    cell = next(r for r in rows if (r["layer"], r["target"]) == ("1", "rms_level"))
    assert float(cell["r2"]) == pytest.approx(stored.r2)
    assert len([r for r in rows if r["layer"] == "weighted"][0]["weights"].split()) == TINY_LAYERS


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_probe_a_curator_asks_for(client, catalogue, celery_worker_process):
    response = staff_client(client).post(PROBES, {"targets": TARGETS, "folds": 3}, content_type="application/json")
    assert response.status_code == 202, response.content
    url = response.json()["url"]
    deadline = time.monotonic() + 180
    while (body := client.get(url).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"the run did not finish: {body}"
        time.sleep(0.5)
    assert body["status"] == "succeeded", body["error"]
    assert body["tracks"] == 9 and body["heatmap"]["targets"] == TARGETS


def test_exporting_an_unfinished_run_is_409(client, catalogue):
    run = request_probe(EmbeddingSpace.objects.get(), queue=False)
    assert_error(client.get(f"{PROBES}{run.pk}/export/"), 409, "not_finished")


def test_every_target_is_probed_when_none_is_named(catalogue):
    run = probe(targets=())
    assert run.status == ProbeRun.Status.SUCCEEDED, run.error
    dropped = dict(run.dropped_targets)
    assert {"note_density", "velocity_spread", "pedal_ratio"} <= set(dropped)  # no MIDI files here
    assert "0 of 9 tracks" in dropped["note_density"]
    assert [spec["name"] for spec in run.target_specs] == [n for n in target_names() if n not in dropped]
    assert ProbeResult.objects.filter(run=run).count() == TINY_LAYERS * len(run.target_specs)


def test_midi_targets_come_from_the_scores_kept_at_import(tmp_path):
    """An SMD-shaped folder with a score per recording, copied in: the scores' note
    density becomes a target like any other (here: 2 to 6 notes/s, one rate per track)."""
    from catalog.importers import find_entries, run_import

    root = tmp_path / "SMD"
    (root / "midi").mkdir(parents=True)
    for i in range(9):
        stem = f"Bach_BWV{800 + i}_001_20090916-SMD"
        write_audio(root / "wav-44" / f"{stem}.wav", tone(seconds=6.0, freq=200 + 40 * i))
        rate = 2 + i % 5
        write_midi(root / "midi" / f"{stem}.mid", [(n / rate, 0.1, 64) for n in range(6 * rate)], pedal=[])
    summary = run_import(make_dataset("SMD"), find_entries("smd", root), root=root, copy=True)
    assert summary.imported == 9
    for track in Track.objects.all():
        run_queued_extraction(track)
    run = probe(targets=["note_density"])
    assert run.status == ProbeRun.Status.SUCCEEDED, run.error
    assert run.dropped_targets == [] and run.tracks == 9
    assert all(r.r2 is not None for r in ProbeResult.objects.filter(run=run, target="note_density"))

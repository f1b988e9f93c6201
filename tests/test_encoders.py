"""Two encoders side by side: MERT (the tiny checkpoint here) and the classic MIR
descriptors, each in its own embedding space, chosen per extraction request."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from analysis.clips import create_clip_query
from analysis.extraction import run_clip_query, run_extraction_job
from analysis.models import EmbeddingSpace, ExtractionJob, TrackEmbedding, TrackFeatures
from analysis.services import activate_space, request_extraction
from recommendations.recommender import similar_tracks
from tests.factories import (
    audio_bytes, make_dataset, make_user, run_queued_extraction, token_for, tone, upload_tone,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_tiny_mert")]


def extract_classic(*tracks):
    for job in request_extraction(tracks, encoder="classic"):
        run_extraction_job(job.pk, worker="in-process")


def test_the_classic_encoder_fills_its_own_space_beside_merts():
    track = upload_tone(make_dataset(), "a.wav")
    run_queued_extraction(track)  # MESS_ENCODER: MERT (use_tiny_mert)
    extract_classic(track)
    spaces = {space.encoder: space for space in EmbeddingSpace.objects.all()}
    assert set(spaces) == {"mert", "classic"}
    classic, mert = spaces["classic"], spaces["mert"]
    assert classic.num_layers == len(classic.layer_names) == 8 and classic.layer_names[0] == "mfcc"
    assert mert.layer_names == ["input (CNN features)", "transformer layer 1", "transformer layer 2"]
    assert TrackEmbedding.objects.filter(track=track, space=classic).count() == 8
    assert TrackFeatures.objects.get(track=track, space=classic).window_starts == [0.0, 2.5, 5.0, 7.0]
    assert mert.is_active and not classic.is_active  # the first space made stays the active one
    assert ExtractionJob.objects.filter(track=track, encoder="classic", status="succeeded").exists()


def test_requests_join_pending_jobs_of_the_same_encoder_only():
    track = upload_tone(make_dataset(), "a.wav")  # a pending MERT job
    [classic] = request_extraction([track], encoder="classic")
    [again] = request_extraction([track], encoder="classic")
    [mert] = request_extraction([track])
    assert again.pk == classic.pk and mert.pk != classic.pk and mert.encoder == "mert"
    with pytest.raises(ValueError, match="Unknown encoder 'wav2vec'"):
        request_extraction([track], encoder="wav2vec")


@pytest.mark.parametrize("encoder, layer_name", [("classic", "chroma"), ("musicnn", "penultimate")])
def test_similar_tracks_in_an_encoders_own_space_by_one_of_its_layers(encoder, layer_name):
    dataset = make_dataset()
    tracks = [upload_tone(dataset, f"{i}.wav", seconds=6.0, seed=i) for i in range(4)]
    for job in request_extraction(tracks, encoder=encoder):
        run_extraction_job(job.pk, worker="in-process")
    space = EmbeddingSpace.objects.get(encoder=encoder)
    found = similar_tracks(tracks[0], space=space, layer=space.layer_names.index(layer_name), k=3)
    assert found.space == space and len(found.results) == 3
    assert tracks[0] not in [r.track for r in found.results]


def test_a_search_clip_is_embedded_by_the_active_spaces_encoder(settings):
    extract_classic(upload_tone(make_dataset(), "a.wav"))
    activate_space(EmbeddingSpace.objects.get(encoder="classic"))
    settings.MESS_MERT_MODEL = "/no/such/model"  # MERT cannot load: the clip must not need it
    clip = create_clip_query(SimpleUploadedFile("clip.wav", audio_bytes(tone(seconds=3.0))), owner=make_user())
    run_clip_query(clip.pk)
    clip.refresh_from_db()
    assert clip.status == "succeeded", clip.error
    assert clip.space.encoder == "classic"


def test_the_command_and_the_api_name_the_encoder(client, settings):
    track = upload_tone(make_dataset(), "a.wav")
    with pytest.raises(CommandError, match="per-frame"):
        call_command("extract", "--track", str(track.pk), "--encoder", "classic", "--sync", "--temporal", "/tmp")
    call_command("extract", "--track", str(track.pk), "--encoder", "classic", "--sync")
    assert EmbeddingSpace.objects.filter(encoder="classic").exists()

    staff = make_user("curator", staff=True, curator=True)
    response = client.post(f"/api/v1/tracks/{track.pk}/extract/", {"encoder": "classic", "force": True},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Token {token_for(staff)}")
    assert response.status_code == 202 and response.json()["encoder"] == "classic"
    bad = client.post(f"/api/v1/tracks/{track.pk}/extract/", {"encoder": "wav2vec"},
                      content_type="application/json", HTTP_AUTHORIZATION=f"Token {token_for(staff)}")
    assert bad.status_code == 400

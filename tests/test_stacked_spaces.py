"""A stacked space (musicnn + classic) end to end: extraction puts both encoders' layers
side by side in one space, probing and the aspect map see them all, indices hold each
layer at its own width, and similar tracks and passages answer by any of its layers."""

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from analysis.classic import ClassicEncoder
from analysis.embeddings import load_window_features, track_vectors
from analysis.extraction import load_encoder
from analysis.models import EmbeddingSpace, Encoder, TrackEmbedding, TrackFeatures, TrackTags
from analysis.musicnn.encoder import load_musicnn
from analysis.stack import StackedEncoder, nearest_windows
from catalog.intake import ingest_upload
from recommendations import index
from recommendations.aspects import aspect_map
from tests.factories import audio_bytes, make_dataset, make_user, noise, run_queued_extraction, token_for, tone
from tests.test_index import wait_for_index
from tests.test_probing import probe

pytestmark = pytest.mark.django_db
SAMPLE_RATE = 22050


def chord_track(i, seconds=7.0):
    """A different chord and noise colour per track, so that layers have something to tell."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    root = 110 * 2 ** (i / 12)
    signal = sum(np.sin(2 * np.pi * root * ratio * t) for ratio in (1, 1.26, 1.5)) / 6
    return signal + (0.2 + 0.1 * (i % 3)) * noise(seconds=seconds, seed=i)


@pytest.fixture
def stack():
    return load_encoder(Encoder.MUSICNN_CLASSIC)


def test_the_stack_holds_each_members_layers_as_the_member_computes_them(stack, tmp_path):
    path = tmp_path / "chord.wav"
    path.write_bytes(audio_bytes(chord_track(3, seconds=8.0)))
    window_seconds, overlap = stack.own_windows  # musicnn's 3 s patches, for every member
    result = stack.encode(path, window_seconds=window_seconds, overlap=overlap)
    musicnn = load_musicnn().encode(path, window_seconds=window_seconds, overlap=overlap)
    classic = ClassicEncoder().encode(path, window_seconds=window_seconds, overlap=overlap)

    assert stack.encoder == "musicnn+classic" and stack.num_layers == musicnn.window_means.shape[1] + 8
    assert stack.layer_names[:2] == ["musicnn:timbral", "musicnn:temporal"]
    assert stack.layer_names[9:] == [f"classic:{name}" for name in ClassicEncoder.layer_names]
    assert stack.dim == 753 and stack.layer_dims[8:10] == [50, ClassicEncoder.dim]  # taggram, chroma
    np.testing.assert_allclose(result.window_starts, musicnn.window_starts)
    np.testing.assert_allclose(result.window_means[:, :9], musicnn.window_means, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.window_means[:, 9:, : ClassicEncoder.dim], classic.window_means, atol=1e-6)
    assert not result.window_means[:, 9:, ClassicEncoder.dim :].any()  # padding
    assert result.tags == musicnn.tags


def test_member_windows_are_matched_by_nearest_start():
    # A member at another sample rate rounds its starts differently, and may have one window more.
    assert nearest_windows([0.0, 2.99, 5.99, 7.31, 7.4], [0.0, 2.992, 5.984, 7.308]).tolist() == [0, 1, 2, 3]
    assert nearest_windows([0.0], [0.0]).tolist() == [0]


def test_a_stack_needs_two_encoders():
    with pytest.raises(ValueError, match="at least two"):
        StackedEncoder([ClassicEncoder()])


@pytest.fixture
def stacked_catalogue(settings):
    settings.MESS_ENCODER = Encoder.MUSICNN_CLASSIC
    dataset = make_dataset("Chords")
    tracks = []
    for i in range(9):
        track = ingest_upload(dataset, SimpleUploadedFile(f"c{i}.wav", audio_bytes(chord_track(i))), title=f"c{i}")
        run_queued_extraction(track)
        tracks.append(track)
    return EmbeddingSpace.objects.get(), tracks


@pytest.mark.django_db(transaction=True)  # indices read the layer in a snapshot of their own
def test_extraction_probe_index_and_queries_in_a_stacked_space(stacked_catalogue, client, settings):
    space, tracks = stacked_catalogue
    assert space.is_active and space.encoder == "musicnn+classic" and space.num_layers == 17
    assert space.layer_dims == load_encoder(Encoder.MUSICNN_CLASSIC).layer_dims
    features = TrackFeatures.objects.get(space=space, track=tracks[0])
    assert load_window_features(features.path).shape == (features.num_windows, 17, 753)
    assert track_vectors(tracks[0], space).shape == (17, 753)  # padded again when read
    stored = TrackEmbedding.objects.filter(space=space, track=tracks[0]).order_by("layer")
    assert [len(row.vector) for row in stored] == space.layer_dims  # stored at each layer's own width
    assert TrackTags.objects.filter(space=space).count() == len(tracks)

    # Before a probe every aspect uses every layer of both encoders, and says it has no evidence.
    harmony = aspect_map(space)["harmony"]
    assert harmony.confidence == "none" and sorted(harmony.layers) == list(range(17))

    run = probe(targets=["spectral_centroid", "rms_level", "key_clarity"])
    assert run.status == "succeeded", run.error
    assert set(run.results.values_list("layer", flat=True)) == set(range(17))
    assert all(0 <= layer < 17 for choice in aspect_map(space).values() for layer in choice.layers)

    # Indices hold each layer at its own width; cosines are those of the padded vectors.
    settings.MESS_INDEX_CHECK_SECONDS = 0
    space.refresh_from_db()
    for layer in range(space.num_layers):
        wait_for_index(space, layer)
    for layer in (8, 9):  # musicnn's taggram (50 wide), classic's mfcc (39)
        entry = index.load_or_build(space.pk, layer)
        assert entry.index.d == space.layer_dim(layer)
        padded = np.stack([track_vectors(t, space)[layer] for t in tracks])
        padded /= np.linalg.norm(padded, axis=1, keepdims=True)
        np.testing.assert_allclose(index.vectors(space, layer, [t.pk for t in tracks]), padded, atol=1e-6)

    token = token_for(make_user())
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    for query in ("layer=9", "layer=2", "aspect=harmony", "mix=timbre=1,harmony=1"):  # FAISS answers (waited for)
        faiss_answer = client.get(f"/api/v1/tracks/{tracks[0].pk}/similar/?{query}&k=8", **auth)
        assert faiss_answer.status_code == 200, faiss_answer.json()
        settings.MESS_FAISS_ENABLED = False  # pgvector over the padded vectors: the same ranking
        pg_answer = client.get(f"/api/v1/tracks/{tracks[0].pk}/similar/?{query}&k=8", **auth)
        settings.MESS_FAISS_ENABLED = True
        ranked = [[r["track"]["id"] for r in answer.json()["results"]] for answer in (faiss_answer, pg_answer)]
        assert ranked[0] == ranked[1] and len(ranked[0]) == 8 and tracks[0].pk not in ranked[0]

    passages = client.get(f"/api/v1/tracks/{tracks[0].pk}/passages/?start=0&end=3&layer=10&k=3", **auth)
    assert passages.status_code == 200, passages.json()
    assert len(passages.json()["results"]) == 3

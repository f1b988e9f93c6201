"""The embedding map (/map/: a PCA of one layer drawn as linked SVG points) and layer
discovery (/layers/: a probe run's R² heatmap and the aspect map), on embeddings and
probe results made here so every point, colour and score can be checked by hand."""

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from analysis.layer_discovery import contrast, heat_colours
from analysis.models import EmbeddingSpace, ProbeRun
from analysis.tags import replace_track_tags
from catalog.models import Track
from recommendations import index, projection
from recommendations.models import PinnedAspect
from recommendations.projection import BOX_HEIGHT, BOX_MARGIN, BOX_WIDTH, fit_to_box, principal_components
from tests.factories import make_dataset, make_user
from tests.test_aspect_map import R2, finished_run
from tests.test_recommender import make_space, store, track

pytestmark = pytest.mark.django_db
# The map reads a layer as the similarity index does: in a transaction of its own, on
# several connections sharing one snapshot, which sees only committed rows.
reads_vectors = pytest.mark.django_db(transaction=True)


def element(html, tag, element_id):
    """The element with `element_id` parsed as XML (the page writes these well-formed)."""
    found = re.search(rf'<{tag} id="{element_id}".*?</{tag}>', html, re.DOTALL)
    assert found, f"no <{tag} id={element_id!r}> on the page"
    return ET.fromstring(found.group(0))


def text(node):
    return " ".join("".join(node.itertext()).split())


# --- the projection --------------------------------------------------------------------


def test_pca_lays_points_out_along_their_widest_direction_and_the_box_keeps_proportions():
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    along = np.linspace(-5.5, 5.5, 12)  # the main direction, spread 11
    across = np.tile([1.0, -1.0, -1.0, 1.0], 3)  # a second one, spread 2, uncorrelated with the first
    matrix = np.stack([along, across, *np.zeros((4, 12))], axis=1) @ rotation.T

    coords, (pc1, pc2) = principal_components(matrix)
    assert pc1 > 0.9 and pc1 + pc2 == pytest.approx(1.0)
    order = np.argsort(coords[:, 0])
    assert order.tolist() in (list(range(12)), list(range(11, -1, -1)))  # in line, whichever way PC1 points
    assert np.abs(coords[:, 1]) == pytest.approx(np.ones(12), abs=1e-6)

    box = fit_to_box(coords)
    assert box[:, 0].min() == pytest.approx(BOX_MARGIN) and box[:, 0].max() == pytest.approx(BOX_WIDTH - BOX_MARGIN)
    assert (box[:, 1] > BOX_MARGIN).all() and (box[:, 1] < BOX_HEIGHT - BOX_MARGIN).all()
    # One scale for both axes: distances on the map are the projection's, times a constant.
    scale = (box[:, 0].max() - box[:, 0].min()) / (coords[:, 0].max() - coords[:, 0].min())
    assert abs(box[0, 1] - box[1, 1]) == pytest.approx(scale * abs(coords[0, 1] - coords[1, 1]), rel=1e-5)
    # PC2 grows upwards, as on paper: SVG's y grows downwards.
    high, low = np.argmax(coords[:, 1]), np.argmin(coords[:, 1])
    assert box[high, 1] < box[low, 1]


def test_points_that_do_not_spread_sit_in_the_middle():
    box = fit_to_box(np.zeros((4, 2)))
    assert box.tolist() == [[BOX_WIDTH / 2, BOX_HEIGHT / 2]] * 4


def unit(angle_degrees, dim=4):
    vector = np.zeros(dim, dtype=np.float32)
    vector[0], vector[1] = math.cos(math.radians(angle_degrees)), math.sin(math.radians(angle_degrees))
    return vector


@reads_vectors
def test_a_layer_is_projected_from_the_normalised_vectors_of_its_tracks():
    space = make_space()
    dataset = make_dataset("Arc")
    angles = [-60, -30, 0, 30, 60]
    tracks = []
    for i, angle in enumerate(angles):
        # Layer 0: along an arc; lengths differ, but similarity (and the map) sees directions only.
        tracks.append(track(dataset, f"t{angle}"))
        store(tracks[-1], space, [unit(angle) * (i + 1), unit(0), unit(0)])
    space.refresh_from_db()

    result = projection.layer_projection(space, 0)
    assert result.track_ids.tolist() == sorted(t.pk for t in tracks)
    x_by_angle = [result.coords[result.track_ids.tolist().index(t.pk), 0] for t in tracks]
    assert x_by_angle in (sorted(x_by_angle), sorted(x_by_angle, reverse=True))
    assert x_by_angle[0] != x_by_angle[-1] and result.explained[0] > 0.8


# --- the map page -----------------------------------------------------------------------


@pytest.fixture
def mapped():
    """Six tracks in two datasets and three composer groups, with embeddings in all 3 layers."""
    space = make_space(num_layers=3)
    EmbeddingSpace.objects.filter(pk=space.pk).update(layer_names=["input", "middle", "top"])
    smd, maestro = make_dataset("SMD", slug="smd"), make_dataset("MAESTRO", slug="maestro")
    rows = [(smd, "Prelude", "Bach"), (smd, "Fugue", "Bach"), (maestro, "Invention", "Bach"),
            (smd, "Nocturne", "Chopin"), (maestro, "Ballade", "Chopin"), (maestro, "Improvisation", "")]
    tracks = []
    for i, (dataset, title, composer) in enumerate(rows):
        tracks.append(track(dataset, title, composer=composer))
        store(tracks[-1], space, [unit(20 * i), unit(-20 * i), unit(35 * i)])
    return space, tracks


def map_svg(response):
    assert response.status_code == 200
    return element(response.text, "svg", "embedding-map")


def points_of(svg):
    """{track url: (hover title, fill colour)} of the map's points."""
    return {
        link.get("href"): (link.find("title").text, link.find("circle").get("fill"))
        for link in svg.iter("a")
    }


def legend_of(response):
    return {
        re.sub(r"\s+", " ", label).strip(): int(count)
        for label, count in re.findall(
            r'<span class="legend-label">(.*?)</span>\s*<span class="legend-count">(\d+) tracks?</span>',
            response.text, re.DOTALL,
        )
    }


@reads_vectors
def test_the_map_links_every_track_with_its_title_and_colours_it_by_composer(client, mapped):
    _space, tracks = mapped
    response = client.get("/map/", {"layer": 0})
    svg = map_svg(response)
    assert svg.get("data-points") == "6" and svg.get("viewBox") == f"0 0 {BOX_WIDTH} {BOX_HEIGHT}"
    points = points_of(svg)
    assert set(points) == {f"/tracks/{t.pk}/" for t in tracks}
    assert points[f"/tracks/{tracks[0].pk}/"][0] == "Prelude — Bach"
    assert points[f"/tracks/{tracks[5].pk}/"][0] == "Improvisation"  # no composer: the title alone
    assert legend_of(response) == {"Bach": 3, "Chopin": 2, "Unknown composer": 1}
    bach = {points[f"/tracks/{t.pk}/"][1] for t in tracks[:3]}
    assert len(bach) == 1 and bach != {points[f"/tracks/{tracks[3].pk}/"][1]}
    for cx, cy in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', response.text):
        assert 0 <= float(cx) <= BOX_WIDTH and 0 <= float(cy) <= BOX_HEIGHT
    assert "Layer 0: input of tiny: 6 tracks" in " ".join(response.text.split())
    assert re.search(r"PC1 \(\d+\.\d% variance\)", response.text)


@reads_vectors
def test_colouring_by_dataset_groups_the_points_otherwise(client, mapped):
    _space, tracks = mapped
    by_composer = points_of(map_svg(client.get("/map/", {"layer": 0, "colour": "composer"})))
    response = client.get("/map/", {"layer": 0, "colour": "dataset"})
    by_dataset = points_of(map_svg(response))
    assert legend_of(response) == {"MAESTRO": 3, "SMD": 3}
    fill = {url: colour for url, (_, colour) in by_dataset.items()}
    prelude, invention, nocturne = (f"/tracks/{tracks[i].pk}/" for i in (0, 2, 3))
    assert fill[prelude] == fill[nocturne] != fill[invention]  # SMD, SMD, MAESTRO
    assert by_composer[prelude][1] == by_composer[invention][1]  # both Bach
    # Same points either way: only the colours change.
    assert {url: title for url, (title, _) in by_dataset.items()} == {u: t for u, (t, _) in by_composer.items()}


@reads_vectors
def test_past_the_point_limit_a_fixed_sample_is_drawn_and_the_caption_says_so(client, mapped, settings):
    settings.MESS_MAP_MAX_POINTS = 4
    first = points_of(map_svg(client.get("/map/", {"layer": 0})))
    response = client.get("/map/", {"layer": 0, "colour": "dataset"})
    again = points_of(map_svg(response))
    assert len(first) == 4 and set(again) == set(first)  # the same sample on every visit
    assert sum(legend_of(response).values()) == 4
    assert "4 tracks (a fixed random sample of 6)" in " ".join(response.text.split())


@reads_vectors
def test_past_twelve_groups_the_smallest_share_one_colour(client):
    space = make_space()
    dataset = make_dataset("Many")
    for i in range(14):
        for copy in range(2 if i == 0 else 1):
            store(track(dataset, f"piece {i}.{copy}", composer=f"Composer {i:02d}"), space, [unit(7 * i + copy)] * 3)
    legend = legend_of(client.get("/map/", {"layer": 0}))
    assert len(legend) == 12 and legend["Composer 00"] == 2
    assert legend["Other (3 more)"] == 3 and sum(legend.values()) == 15


@reads_vectors
def test_the_default_layer_is_the_default_aspects_and_layers_carry_their_names(client, mapped):
    PinnedAspect.objects.create(space=mapped[0], aspect="timbre", layers={"1": 1})
    response = client.get("/map/")
    assert '<option value="1" selected>Layer 1: middle</option>' in response.text  # timbre's default layer
    assert "Layer 1: middle of tiny" in " ".join(response.text.split())
    assert '<option value="composer" selected>' in response.text


@pytest.mark.parametrize("params, field", [
    ({"layer": 3}, "layer"), ({"layer": "top"}, "layer"), ({"layer": -1}, "layer"), ({"colour": "mood"}, "colour"),
])
def test_a_bad_choice_is_reported_on_its_field_and_draws_no_map(client, mapped, params, field):
    response = client.get("/map/", params)
    assert response.status_code == 200
    assert re.search(rf'id="id_{field}_error" role="alert">Select a valid choice', response.text)
    assert 'id="embedding-map"' not in response.text


@reads_vectors
def test_a_second_look_comes_from_the_cache_until_the_embeddings_change(client, mapped, monkeypatch,
                                                                         django_assert_max_num_queries):
    space, tracks = mapped
    reads = []
    read = index.read_vectors
    monkeypatch.setattr(index, "read_vectors", lambda *args: reads.append(args) or read(*args))
    first = client.get("/map/", {"layer": 2}).text
    # Active space, aspect map (run, pins) at most, the tracks' metadata: no vector read.
    with django_assert_max_num_queries(3):
        second = client.get("/map/", {"layer": 2, "colour": "dataset"})
    assert reads == [(space.pk, 2)]
    assert map_svg(second).get("data-points") == "6"
    coordinates = re.compile(r'<circle cx="[\d.]+" cy="[\d.]+"')
    assert coordinates.findall(second.text) == coordinates.findall(first)

    store(track(tracks[0].dataset, "Newcomer", composer="Bach"), space, [unit(90)] * 3)  # moves the version
    assert map_svg(client.get("/map/", {"layer": 2})).get("data-points") == "7"
    assert len(reads) == 2


@reads_vectors
def test_the_map_says_plainly_when_there_is_nothing_to_draw(client):
    assert "No embedding space is active yet" in client.get("/map/").text
    space = make_space()
    dataset = make_dataset()
    response = client.get("/map/", {"layer": 0})
    assert "No track has embeddings in layer 0 of tiny; the map needs at least 3." in " ".join(response.text.split())
    for angle in (0, 45):
        store(track(dataset, f"only {angle}"), space, [unit(angle)] * 3)
    response = client.get("/map/", {"layer": 0})
    assert "Only 2 tracks have embeddings in layer 0" in " ".join(response.text.split())
    assert 'id="embedding-map"' not in response.text


def labels_of(svg):
    return [text.text for text in svg.iter("text")]


@reads_vectors
def test_the_demos_instrument_is_the_default_colouring_when_tracks_name_one(client, mapped):
    _space, tracks = mapped
    for t, instrument in zip(tracks, ["Piano", "Piano", "Violin", "Violin", "Piano", ""]):
        Track.objects.filter(pk=t.pk).update(metadata={"instrument": instrument} if instrument else {})
    response = client.get("/map/", {"layer": 0})
    assert '<option value="instrument" selected>' in response.text
    assert legend_of(response) == {"Piano": 3, "Violin": 2, "No instrument": 1}
    assert "coloured by instrument" in " ".join(response.text.split())


@reads_vectors
def test_whether_tracks_name_an_instrument_is_asked_once_per_version_of_the_space(client, mapped):
    space, tracks = mapped
    assert '<option value="composer" selected>' in client.get("/map/", {"layer": 0}).text
    Track.objects.filter(pk=tracks[0].pk).update(metadata={"instrument": "Piano"})
    assert '<option value="composer" selected>' in client.get("/map/", {"layer": 0}).text  # the cached answer
    EmbeddingSpace.objects.filter(pk=space.pk).update(version=space.version + 1)
    assert '<option value="instrument" selected>' in client.get("/map/", {"layer": 0}).text


@reads_vectors
@pytest.mark.parametrize("colour, values, expected", [
    ("work", ["BWV 846", "BWV 846", "", "Op. 9", "Op. 9", "Op. 9"], {"Op. 9": 3, "BWV 846": 2, "No work": 1}),
    ("performer", ["Gould", "", "", "", "", "Pires"], {"No performer": 4, "Gould": 1, "Pires": 1}),
    ("album", ["WTC", "WTC", "WTC", "WTC", "Nocturnes", ""], {"WTC": 4, "Nocturnes": 1, "No album": 1}),
    ("year", [1955, 1981, 1981, None, None, None], {"No year": 3, "1981": 2, "1955": 1}),
    ("genre", ["Baroque"] * 3 + ["Romantic"] * 3, {"Baroque": 3, "Romantic": 3}),
])
def test_points_can_be_coloured_by_any_descriptive_field(client, mapped, colour, values, expected):
    _space, tracks = mapped
    for t, value in zip(tracks, values):
        Track.objects.filter(pk=t.pk).update(**{colour: value})
    response = client.get("/map/", {"layer": 0, "colour": colour})
    assert legend_of(response) == expected


@reads_vectors
def test_colouring_by_tag_follows_each_tracks_best_tag(client, mapped):
    space, tracks = mapped
    for t, scores in zip(tracks, [{"piano": 0.9, "violin": 0.3}] * 3 + [{"piano": 0.1, "violin": 0.8}] * 2):
        replace_track_tags(t, space, scores)
    response = client.get("/map/", {"layer": 0, "colour": "tag"})
    assert legend_of(response) == {"piano": 3, "violin": 2, "No tag": 1}


@reads_vectors
def test_without_tags_the_tag_colouring_is_not_offered(client, mapped):
    response = client.get("/map/", {"layer": 0})
    assert '<option value="tag"' not in response.text and '<option value="genre"' in response.text


@reads_vectors
def test_each_point_carries_its_track_for_selection_and_playing(client, mapped):
    _space, tracks = mapped
    svg = map_svg(client.get("/map/", {"layer": 0}))
    prelude = next(link for link in svg.iter("a") if link.get("data-track-id") == str(tracks[0].pk))
    assert prelude.get("href") == f"/tracks/{tracks[0].pk}/"
    assert prelude.get("data-audio-url") == f"/tracks/{tracks[0].pk}/audio"
    assert prelude.get("data-title") == "Prelude"
    named = labels_of(svg)
    assert named and set(named) <= {t.title for t in tracks}


@reads_vectors
def test_the_central_track_of_each_large_group_is_named(mapped):
    space, tracks = mapped
    points, legend, labels = projection.map_points(projection.layer_projection(space, 0), "composer", space)
    by_title = {p.title: p for p in points}
    named = [label.text for label in labels]
    assert 1 <= len(named) <= len(legend)  # one per group at most, fewer where labels would overlap
    for entry in legend:
        members = [p for p in points if p.group == entry.label]
        cx, cy = np.mean([(p.x, p.y) for p in members], axis=0)
        central = min(members, key=lambda p: (p.x - cx) ** 2 + (p.y - cy) ** 2)
        others = {p.title for p in members} - {central.title}
        assert not others & set(named)  # only the central track can name its group
    for label in labels:
        point = by_title[label.text]
        assert label.anchor in {"start", "end"} and abs(label.y - point.y - 4) < 0.2
        assert BOX_MARGIN <= label.x <= BOX_WIDTH - BOX_MARGIN


def test_labels_never_overlap_and_are_shortened():
    long_title = "A very long title of a piece that goes on and on"
    points = [
        projection.MapPoint(id=i, url="", audio_url="", title=title, label=title, group=group, x=x, y=y, colour="#000")
        for i, (title, group, x, y) in enumerate([
            (long_title, "a", 100, 100), ("b", "b", 104, 102), ("c", "c", 780, 300),
        ])
    ]
    legend = [projection.LegendEntry(group, "#000", 1) for group in "abc"]
    labels = projection.central_labels(points, legend)
    assert [label.text for label in labels] == [long_title[:27] + "…", "c"]  # b's would cover a's
    assert labels[1].anchor == "end" and labels[1].x < 780  # too near the right edge: on the left


# --- layer discovery --------------------------------------------------------------------

TARGETS = ["spectral_centroid", "spectral_rolloff", "rms_level", "tempo", "mystery"]  # as finished_run stores them
BEST_LAYER = {"spectral_centroid": 0, "spectral_rolloff": 1, "rms_level": 2, "tempo": 2, "mystery": 0}


@pytest.fixture
def probed():
    space = make_space()
    EmbeddingSpace.objects.filter(pk=space.pk).update(layer_names=["input", "middle", "top"])
    space.refresh_from_db()
    run = finished_run(space)
    ProbeRun.objects.filter(pk=run.pk).update(tracks=9, parameters={"folds": 3})
    return space, run


def test_the_heatmap_prints_every_score_and_marks_each_targets_best_layer(client, probed):
    space, run = probed
    response = client.get("/layers/")
    assert response.status_code == 200
    table = element(response.text, "table", "r2-heatmap")
    caption = text(table.find("caption"))
    assert f"probe run {run.pk} on tiny (MERT)" in caption and "9 tracks" in caption and "3-fold" in caption
    assert [text(th) for th in table.find("thead").iter("th")][1:3] == ["spectral_centroid brightness",
                                                                      "spectral_rolloff brightness"]
    rows = table.find("tbody").findall("tr")
    assert [text(row.find("th")) for row in rows] == ["Layer 0: input", "Layer 1: middle", "Layer 2: top"]
    for layer, row in enumerate(rows):
        for target, cell in zip(TARGETS, row.findall("td")):
            expected = R2[layer][target]
            if expected is None:
                assert text(cell) == "—no score"
                continue
            best = BEST_LAYER[target] == layer
            assert text(cell) == f"{expected:.2f}" + (" best" if best else "")
            assert (cell.find("strong") is not None) == best
            background, colour = heat_colours(expected)
            assert cell.get("style") == f"background-color: {background}; color: {colour}"
    assert f'href="/api/v1/probes/{run.pk}/export/?format=csv"' in response.text


def test_heat_colours_darken_with_the_score_and_their_text_stays_readable():
    backgrounds = [heat_colours(r2)[0] for r2 in np.linspace(0, 1, 11)]
    lightness = [contrast(colour, "#000000") for colour in backgrounds]
    assert lightness == sorted(lightness, reverse=True)
    assert heat_colours(-0.4) == heat_colours(0.0) and heat_colours(1.7) == heat_colours(1.0)
    assert min(contrast(*heat_colours(r2)) for r2 in np.linspace(0, 1, 501)) >= 4.5


def test_the_newest_successful_run_is_shown_and_others_can_be_chosen(client, probed):
    space, older = probed
    newer = finished_run(space)
    failed = ProbeRun.objects.create(space=space, status=ProbeRun.Status.FAILED, error="Too few tracks: 2.")
    running = ProbeRun.objects.create(space=space, status=ProbeRun.Status.RUNNING, progress=40, stage="targets")

    response = client.get("/layers/")
    assert element(response.text, "table", "r2-heatmap").get("data-run") == str(newer.pk)
    assert f'<option value="{newer.pk}" selected>' in response.text
    assert f'<a href="?run={running.pk}">Run {running.pk}</a> is running' in response.text  # announced

    chosen = client.get("/layers/", {"run": older.pk})
    assert element(chosen.text, "table", "r2-heatmap").get("data-run") == str(older.pk)

    response = client.get("/layers/", {"run": failed.pk})
    assert "r2-heatmap" not in response.text and "failed: Too few tracks: 2." in response.text

    response = client.get("/layers/", {"run": running.pk})
    assert "r2-heatmap" not in response.text
    assert re.search(r'id="run-status" class="run-progress" role="status" data-state="running"', response.text)
    assert "40% done, targets" in response.text and '<progress max="100" value="40"' in response.text


@pytest.mark.parametrize("choice", ["999999", "abc", "other-space"])
def test_a_run_that_is_not_the_active_spaces_is_a_form_error(client, probed, choice):
    if choice == "other-space":
        choice = finished_run(make_space("other", active=False)).pk
    response = client.get("/layers/", {"run": choice})
    assert response.status_code == 200
    assert 'id="id_run_error" role="alert"' in response.text and "r2-heatmap" not in response.text


def test_the_aspect_map_shows_layers_confidence_and_where_each_choice_comes_from(client, probed, settings):
    settings.MESS_ASPECT_MIN_TRACKS = 9  # the run's
    space, run = probed
    PinnedAspect.objects.create(space=space, aspect="timbre", layers={"0": 1, "2": 1},
                                pinned_by=make_user("curator", staff=True))
    table = element(client.get("/layers/").text, "table", "aspect-map")
    rows = {row.get("id").removeprefix("aspect-"): row.findall("td") for row in table.find("tbody")}
    layers, r2, confidence, source, evidence, retrieval = (text(cell) for cell in rows["brightness"])
    assert (layers, r2, confidence) == ("Layer 0: input", "0.80", "medium")
    assert source == f"probe run {run.pk}" and rows["brightness"][3].find("a").get("href") == f"?run={run.pk}"
    assert evidence == "spectral_centroid 0.90 spectral_rolloff 0.70"
    assert text(rows["rhythm"][2]) == "low"
    assert [text(cell) for cell in rows["timbre"][:4]] == [
        "Layer 0: input (50%), Layer 2: top (50%)", "—none", "pinned", "pinned by curator"]
    # Not probed for structure, and no MERT-v1-95M: every layer equally, no evidence claimed.
    assert [text(cell) for cell in rows["structure"][1:4]] == [
        "—none", "none default", "default before any probe: every layer equally"]
    assert text(rows["harmony"][0]) == "Layer 0: input (33%), Layer 1: middle (33%), Layer 2: top (33%)"
    badges = table.findall(".//span[@class='badge badge-pinned']")
    assert len(badges) == 1
    assert retrieval == "—none"  # a run from before retrieval evidence was stored


def test_a_run_shows_its_retrieval_evidence_and_agreement(client, probed, settings):
    settings.MESS_ASPECT_MIN_TRACKS = 9
    space, run = probed
    ProbeRun.objects.filter(pk=run.pk).update(aspect_choices={"brightness": {
        "layers": {"2": 1.0}, "agreement": 0.92, "agreement_basis": "200 bootstrap samples of 9 queries (retrieval)",
        "kept_previous": True, "retrieval": {
            "task": "same_work", "description": "...", "metric": "MAP", "score": 0.91, "queries": 9,
            "best_layer": 2, "best_layer_score": 0.91, "r2_choice_score": 0.4},
    }})
    table = element(client.get("/layers/").text, "table", "aspect-map")
    rows = {row.get("id").removeprefix("aspect-"): row.findall("td") for row in table.find("tbody")}
    assert text(rows["brightness"][0]) == "Layer 2: top"
    assert text(rows["brightness"][2]) == "high"  # from its agreement, 0.92: retrieval backs it
    assert text(rows["brightness"][5]) == (
        "same work: MAP 0.91 over 9 queries; best single layer Layer 2: top 0.91; the R² choice 0.40 "
        "best in 92% of 200 bootstrap samples of 9 queries (retrieval); kept from the previous map "
        "(the new best was within the noise)")
    api = client.get("/api/v1/aspects/").json()
    [brightness] = [a for a in api["aspects"] if a["name"] == "brightness"]
    assert brightness["agreement"] == 0.92 and brightness["retrieval"]["best_layer"] == 2


def test_a_run_on_too_few_tracks_is_shown_but_does_not_set_the_map(client, probed, settings):
    settings.MESS_ASPECT_MIN_TRACKS = 30
    space, run = probed
    response = client.get("/layers/")
    note = text(element(response.text, "p", "aspect-map-note"))
    assert note == (f"A probe run sets the map when it probed at least 30 tracks (MESS_ASPECT_MIN_TRACKS). "
                    f"Run {run.pk} probed 9 tracks, fewer than that: its choices are shown with it, "
                    "but the map keeps its defaults.")
    table = element(response.text, "table", "aspect-map")
    assert text(table.find("tbody").find("tr").findall("td")[3]) == "default before any probe: every layer equally"


def test_layer_discovery_explains_what_to_do_when_there_is_nothing_yet(client):
    assert "No embedding space is active yet" in client.get("/layers/").text
    make_space()
    response = client.get("/layers/")
    assert 'id="no-probe-runs"' in response.text
    assert "manage.py probe" in response.text and "POST /api/v1/probes/" in response.text
    assert element(response.text, "table", "aspect-map").find("tbody").find("tr").get("id") == "aspect-brightness"

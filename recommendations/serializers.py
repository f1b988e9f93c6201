from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from analysis.models import EmbeddingSpace
from catalog.serializers import TrackSerializer
from recommendations.recommender import MAX_K, ORDERS


class SimilarityQuerySerializer(serializers.Serializer):
    """What similar means and how many: types only. Ranges and combinations are checked
    by the recommender, which names each problem with its own error code."""

    aspect = serializers.CharField(
        required=False, help_text="A musical aspect (see /api/v1/aspects/). Without aspect, layer or aspects: timbre."
    )
    layer = serializers.IntegerField(required=False, help_text="A layer, from 0 to the space's num_layers - 1.")
    aspects = serializers.CharField(
        source="mix",
        required=False,
        help_text="A mix of aspects with relative weights, e.g. brightness=0.7,timbre=0.3. "
        "Give at most one of aspect, layer and aspects.",
    )
    k = serializers.IntegerField(default=10, help_text=f"How many results, 1 to {MAX_K}.")


class SimilarQuerySerializer(SimilarityQuerySerializer):
    diversity = serializers.FloatField(
        default=0.0, help_text="0 (plain ranking by similarity) to 1 (the most varied set among the close tracks)."
    )
    dataset = serializers.CharField(required=False, help_text="Only tracks of the dataset with this slug.")
    composer = serializers.CharField(
        required=False,
        help_text="Only tracks by this composer, as people type it: any case, accents optional, a part of the name "
        "(bach, j s bach, dvorak). A part that fits several composers takes them all (see composers_matched); "
        "one that fits none is a 400 unknown_composer naming close names.",
    )
    exclude_same_work = serializers.BooleanField(
        default=False, help_text="Leave out other recordings of the track's work (same work and composer)."
    )
    offset = serializers.IntegerField(
        default=0,
        help_text=f"Skip this many results: k results from this position of the whole list, which ends at "
        f"{settings.MESS_SIMILAR_MAX_DEPTH} (MESS_SIMILAR_MAX_DEPTH), so offset is at most one less. Pages join "
        "up, with diversity too: the next page (next_offset) neither repeats nor skips this one.",
    )


class PassageQuerySerializer(SimilarityQuerySerializer):
    start = serializers.FloatField(help_text="Start of the query span, in seconds from the track's beginning.")
    end = serializers.FloatField(help_text="End of the query span, in seconds; after start, within the track.")
    per_track = serializers.BooleanField(
        default=True, help_text="Only each track's best passage (the default), so k passages come from k tracks."
    )
    exclude_self = serializers.BooleanField(
        default=False,
        help_text="Leave out every passage of the query track; by default its passages outside the span may come "
        "back (a piece repeating itself), marked same_track.",
    )


class ClipQueryParamsSerializer(SimilarQuerySerializer):
    """The similar-tracks parameters apply to `similar`; aspect, layer, aspects and k also to `passages`."""

    exclude_same_work = None  # a clip has no work
    offset = None  # one page: a clip's results are read once
    per_track = serializers.BooleanField(
        default=True, help_text="In passages, only each track's best passage (the default)."
    )


class TrackSummarySerializer(TrackSerializer):
    class Meta(TrackSerializer.Meta):
        fields = ["id", "title", "composer", "work", "dataset", "url", "audio_url"]
        read_only_fields = fields


class SpaceSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = EmbeddingSpace
        fields = ["id", "name", "model_id", "num_layers", "dim"]
        read_only_fields = fields


class LayerWeightSerializer(serializers.Serializer):
    layer = serializers.IntegerField()
    weight = serializers.FloatField(help_text="Share of the similarity; the weights sum to 1.")


class LayerCosineSerializer(LayerWeightSerializer):
    cosine = serializers.FloatField(help_text="Cosine similarity to the query track at this layer.")


@extend_schema_field(LayerWeightSerializer(many=True))
class LayerWeightsField(serializers.Field):
    """A {layer: weight} mapping as a list (JSON object keys cannot be numbers)."""

    def to_representation(self, weights):
        return [{"layer": layer, "weight": weight} for layer, weight in sorted(weights.items())]


class RecommendationSerializer(serializers.Serializer):
    track = TrackSummarySerializer()
    score = serializers.FloatField(help_text="The similarity: the weighted sum of the layers' cosines.")
    layers = serializers.SerializerMethodField()
    explanation = serializers.CharField()

    @extend_schema_field(LayerCosineSerializer(many=True))
    def get_layers(self, recommendation):
        return [
            {"layer": layer, "weight": weight, "cosine": recommendation.cosines[layer]}
            for layer, weight in sorted(recommendation.layers.items())
        ]


class RankedTracksSerializer(serializers.Serializer):
    """What a list of similar tracks says about itself, for a track and for a clip."""

    space = SpaceSummarySerializer()
    description = serializers.CharField(help_text="What similar means here, e.g. brightness (layer 0, ...).")
    layers = LayerWeightsField()
    results = RecommendationSerializer(
        many=True, help_text="Most similar first when order is score; as diversity chose them when it is diversified."
    )
    order = serializers.ChoiceField(
        choices=ORDERS,
        help_text="score: ranked by score alone; diversified: diversity > 0 chose and ordered the results for "
        "variety, so a lower score may come before a higher one.",
    )
    composers_matched = serializers.ListField(
        source="composers",
        child=serializers.CharField(),
        allow_null=True,
        help_text="The catalogued composer names the composer parameter matched; null without it.",
    )


class SimilarTracksSerializer(RankedTracksSerializer):
    track = TrackSummarySerializer(help_text="The query track.")
    offset = serializers.IntegerField(help_text="The position of the first result in the whole list.")
    next_offset = serializers.IntegerField(
        allow_null=True, help_text="The offset of the next page; null at the end of the list or of MESS_SIMILAR_MAX_DEPTH."
    )
    next = serializers.SerializerMethodField(help_text="This query at next_offset; null when next_offset is.")

    def get_next(self, found) -> str | None:
        if found.next_offset is None:
            return None
        request = self.context["request"]
        query = request.query_params.copy()
        query["offset"] = found.next_offset
        return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


class PassageSerializer(serializers.Serializer):
    track = TrackSummarySerializer()
    start = serializers.FloatField(help_text="Seconds from the track's beginning.")
    end = serializers.FloatField(help_text="start + the space's window length, or the track's end.")
    score = serializers.FloatField(help_text="The similarity: the weighted sum of the layers' cosines.")
    same_track = serializers.BooleanField(
        help_text="A passage of the query track itself (the piece repeating itself); never for a clip."
    )


class SimilarPassagesSerializer(serializers.Serializer):
    track = TrackSummarySerializer(help_text="The query track.")
    start = serializers.FloatField(help_text="The query span, in seconds.")
    end = serializers.FloatField()
    space = SpaceSummarySerializer()
    description = serializers.CharField(help_text="What similar means here, e.g. timbre (layer 1, ...).")
    layers = LayerWeightsField()
    results = PassageSerializer(
        many=True,
        help_text="Most similar first; never a window of the query track overlapping the span, none of the query "
        "track with exclude_self.",
    )


class ClipSimilarSerializer(RankedTracksSerializer):
    """Tracks similar to a search clip: one page, none of them excluded."""


class ClipPassagesSerializer(serializers.Serializer):
    description = serializers.CharField()
    layers = LayerWeightsField()
    results = PassageSerializer(many=True, help_text="Most similar first.")


class ClipUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="A short audio clip (WAV, AIFF, FLAC, Ogg Vorbis or Opus, MP3), at most MESS_CLIP_MAX_SECONDS."
    )


class ClipSearchSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="clip.pk")
    url = serializers.SerializerMethodField(help_text="Poll here for the results.")
    # Not a ChoiceField: its enum would collide in the schema with the extraction jobs' status.
    status = serializers.CharField(source="clip.status", help_text="queued, running, succeeded or failed.")
    error = serializers.CharField(source="clip.error", help_text="Why it failed; empty otherwise.")
    original_name = serializers.CharField(source="clip.original_name")
    duration = serializers.FloatField(source="clip.duration", help_text="Seconds.")
    created_at = serializers.DateTimeField(source="clip.created_at")
    finished_at = serializers.DateTimeField(source="clip.finished_at", allow_null=True)
    similar = ClipSimilarSerializer(allow_null=True, help_text="Once succeeded: tracks similar to the clip; else null.")
    passages = ClipPassagesSerializer(
        allow_null=True, help_text="Once succeeded: passages similar to the clip; else null."
    )

    def get_url(self, search) -> str:
        return reverse("clip-search-detail", args=[search.clip.pk], request=self.context.get("request"))


class TargetEvidenceSerializer(serializers.Serializer):
    target = serializers.CharField()
    r2 = serializers.FloatField(help_text="Cross-validated R² of the probe for this target at the chosen layers.")


@extend_schema_field(TargetEvidenceSerializer(many=True))
class EvidenceField(serializers.Field):
    """A {target: R²} mapping as a list, best first."""

    def to_representation(self, evidence):
        return [{"target": t, "r2": r2} for t, r2 in sorted(evidence.items(), key=lambda item: -item[1])]


class RetrievalEvidenceSerializer(serializers.Serializer):
    task = serializers.CharField(help_text="same_work (harmony) or same_instrument (timbre).")
    description = serializers.CharField()
    metric = serializers.CharField(help_text="MAP: mean average precision over the queries.")
    score = serializers.FloatField(help_text="The choice's score.")
    queries = serializers.IntegerField(help_text="Tracks with at least one relevant other track.")
    best_layer = serializers.IntegerField(help_text="The best single layer at the task.")
    best_layer_score = serializers.FloatField()
    r2_choice_score = serializers.FloatField(help_text="The score of what R² alone would have chosen.")


class AspectSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    layers = LayerWeightsField()
    r2 = serializers.FloatField(
        allow_null=True, help_text="Mean R² of the aspect's proxy targets at these layers; null for guesses."
    )
    confidence = serializers.CharField(
        help_text="high (R² > 0.8), medium (> 0.5), low, pinned (a curator's choice without evidence), or none "
        "(a space not probed yet: every layer equally weighted). A choice backed by retrieval: high when its "
        "agreement is at least 0.8, medium at least 0.5, else low."
    )
    source = serializers.CharField(help_text="Where the choice comes from: a probe run, a curator's pin or a default.")
    basis = serializers.CharField(
        help_text="What the layers rest on, in words, from the active space's own evidence (probe run and R²), "
        "or that none was measured."
    )
    run = serializers.IntegerField(allow_null=True, help_text="The probe run behind the choice, if any.")
    evidence = EvidenceField(help_text="Per proxy target of the aspect, the R² behind the choice.")
    available = serializers.BooleanField(help_text="Whether the active space has the layers this aspect uses.")
    problem = serializers.CharField(help_text="Why the aspect is unavailable; empty when it is available.")
    retrieval = RetrievalEvidenceSerializer(
        allow_null=True, help_text="The labelled retrieval task that backs the choice, when the run's tracks had labels."
    )
    agreement = serializers.FloatField(
        allow_null=True, help_text="Share of resamples (see agreement_basis) in which the choice is the best candidate."
    )
    agreement_basis = serializers.CharField(help_text="What was resampled: outer folds (R²) or bootstrapped queries.")
    kept_previous = serializers.BooleanField(
        help_text="The previous map's choice stayed: the new run's best did not beat it by more than the noise."
    )


class AspectMapSerializer(serializers.Serializer):
    space = SpaceSummarySerializer()
    default_aspect = serializers.CharField(help_text="What similar means when a query names nothing.")
    aspects = AspectSerializer(many=True)


class IndexEntrySerializer(serializers.Serializer):
    space = serializers.IntegerField(help_text="Embedding space id.")
    layer = serializers.IntegerField()
    backend = serializers.CharField(
        help_text="faiss-flat or faiss-hnsw (-fp16, -sq8 when compressed); pgvector while none is loaded."
    )
    size = serializers.IntegerField(allow_null=True, help_text="Tracks in the index.")
    version = serializers.IntegerField(allow_null=True, help_text="The space's version the index was built at.")
    built_at = serializers.DateTimeField(allow_null=True)
    memory_bytes = serializers.IntegerField(help_text="Mapped from a file shared by this host's processes.")
    building = serializers.BooleanField(help_text="Whether a newer index is being built.")
    loaded = serializers.BooleanField(
        help_text="Whether the process that answered holds it; a saved index it has not mapped yet (memory_bytes "
        "0) is mapped at its first query."
    )


class IndexStatusSerializer(serializers.Serializer):
    indices = IndexEntrySerializer(
        many=True, help_text="The indices the process that answered holds or was asked for, then those saved."
    )

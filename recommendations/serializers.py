from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analysis.models import EmbeddingSpace
from catalog.serializers import TrackSerializer
from recommendations.recommender import MAX_K


class SimilarQuerySerializer(serializers.Serializer):
    """Types only: ranges and combinations are checked by the recommender, which names
    each problem with its own error code."""

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
    k = serializers.IntegerField(default=10, help_text=f"How many tracks, 1 to {MAX_K}.")
    diversity = serializers.FloatField(
        default=0.0, help_text="0 (plain ranking by similarity) to 1 (the most varied set among the close tracks)."
    )
    dataset = serializers.CharField(required=False, help_text="Only tracks of the dataset with this slug.")
    composer = serializers.CharField(required=False, help_text="Only tracks by this composer (ignoring case).")
    exclude_same_work = serializers.BooleanField(
        default=False, help_text="Leave out other recordings of the track's work (same work and composer)."
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


class SimilarTracksSerializer(serializers.Serializer):
    track = TrackSummarySerializer(help_text="The query track.")
    space = SpaceSummarySerializer()
    description = serializers.CharField(help_text="What similar means here, e.g. brightness (layer 0, ...).")
    layers = LayerWeightsField()
    results = RecommendationSerializer(many=True, help_text="Most similar first, unless diversity re-ordered them.")


class AspectSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    layers = LayerWeightsField()
    r2 = serializers.FloatField(allow_null=True, help_text="R² of the probe behind the choice; null for guesses.")
    confidence = serializers.CharField(help_text="high, medium or low.")
    source = serializers.CharField(help_text="Where the choice comes from, e.g. default (research prototype).")
    available = serializers.BooleanField(help_text="Whether the active space has the layers this aspect uses.")
    problem = serializers.CharField(help_text="Why the aspect is unavailable; empty when it is available.")


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


class IndexStatusSerializer(serializers.Serializer):
    indices = IndexEntrySerializer(many=True, help_text="The indices of the process that answered.")

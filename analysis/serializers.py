from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analysis.models import EmbeddingSpace, Encoder, ExtractionJob, ProbeRun
from analysis.probe_results import heatmap
from analysis.target_specs import specs
from catalog.models import Dataset


class EmbeddingSpaceSerializer(serializers.ModelSerializer):
    class Meta:
        model = EmbeddingSpace
        fields = [
            "id", "name", "encoder", "layer_names", "model_id", "revision", "weights_hash", "num_layers", "dim",
            "sample_rate", "window_seconds", "overlap", "is_active", "version", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class ExtractionJobSerializer(serializers.ModelSerializer):
    realtime_factor = serializers.FloatField(
        read_only=True, allow_null=True, help_text="Seconds of audio per second of extraction."
    )

    class Meta:
        model = ExtractionJob
        fields = [
            "id", "track", "space", "encoder", "status", "force", "progress", "windows_done", "windows_total",
            "attempts", "worker", "error", "created_at", "started_at", "heartbeat_at", "finished_at",
            "load_seconds", "extract_seconds", "realtime_factor",
        ]  # fmt: skip
        read_only_fields = fields


class ExtractRequestSerializer(serializers.Serializer):
    force = serializers.BooleanField(default=False, help_text="Recompute even when current embeddings exist.")
    encoder = serializers.ChoiceField(
        choices=Encoder.choices, required=False,
        help_text="mert, musicnn or classic; default: the active space's encoder "
                  "(with no active space, the server's MESS_ENCODER).",
    )


class ProbeRunSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="probe-detail")
    dataset = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True, help_text="null: every track with features in the space."
    )

    class Meta:
        model = ProbeRun
        fields = [
            "id", "url", "space", "dataset", "targets", "parameters", "status", "progress", "stage", "error",
            "tracks", "windows", "skipped", "dropped_targets", "timings", "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class HeatmapSerializer(serializers.Serializer):
    layers = serializers.ListField(child=serializers.IntegerField())
    targets = serializers.ListField(child=serializers.CharField())
    r2 = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
        help_text="One row per layer, one column per target: mean cross-validated R² (null: no score).",
    )


class ProbeRunDetailSerializer(ProbeRunSerializer):
    target_specs = serializers.JSONField(read_only=True, help_text="Each target: name, aspect, unit, description.")
    heatmap = serializers.SerializerMethodField()
    weighted = serializers.JSONField(
        read_only=True, help_text="Per target: the weighted probe's scores and layer weights."
    )
    baseline = serializers.JSONField(read_only=True, help_text="Per target: scores with shuffled targets and the mean.")

    class Meta(ProbeRunSerializer.Meta):
        fields = [*ProbeRunSerializer.Meta.fields, "target_specs", "heatmap", "weighted", "baseline"]
        read_only_fields = fields

    @extend_schema_field(HeatmapSerializer)
    def get_heatmap(self, run):
        return heatmap(run)


class ProbeRequestSerializer(serializers.Serializer):
    space = serializers.PrimaryKeyRelatedField(
        queryset=EmbeddingSpace.objects.all(), required=False, help_text="Embedding space id; default: the active one."
    )
    dataset = serializers.SlugRelatedField(
        slug_field="slug", queryset=Dataset.objects.all(), required=False,
        help_text="Only this dataset's tracks; default: every track with features in the space.",
    )
    targets = serializers.ListField(
        child=serializers.CharField(), required=False, default=list, help_text="Target names; default: all."
    )
    folds = serializers.IntegerField(default=5, min_value=2, max_value=20, help_text="Outer folds, grouped by track.")

    def validate_targets(self, names):
        try:
            specs(names)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return names

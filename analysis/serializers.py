from rest_framework import serializers

from analysis.models import EmbeddingSpace, ExtractionJob


class EmbeddingSpaceSerializer(serializers.ModelSerializer):
    class Meta:
        model = EmbeddingSpace
        fields = [
            "id", "name", "encoder", "model_id", "revision", "weights_hash", "num_layers", "dim",
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
            "id", "track", "space", "status", "force", "progress", "windows_done", "windows_total",
            "attempts", "worker", "error", "created_at", "started_at", "heartbeat_at", "finished_at",
            "load_seconds", "extract_seconds", "realtime_factor",
        ]  # fmt: skip
        read_only_fields = fields


class ExtractRequestSerializer(serializers.Serializer):
    force = serializers.BooleanField(default=False, help_text="Recompute even when current embeddings exist.")

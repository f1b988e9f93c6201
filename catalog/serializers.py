from django.db import models
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analysis.tags import tag_scores
from catalog.models import DESCRIPTIVE_FIELDS, Dataset, Track, TrackDuplicate
from messsite.api_errors import ErrorDetailSerializer


class DatasetSerializer(serializers.ModelSerializer):
    # Annotated by the view's queryset; a dataset just created has no tracks yet.
    track_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Dataset
        fields = ["id", "name", "slug", "source_kind", "description", "track_count", "created_at"]
        read_only_fields = ["created_at"]


class TagScoreSerializer(serializers.Serializer):
    tag = serializers.CharField()
    score = serializers.FloatField(help_text="The model's score for the tag, 0-1 (the mean over the track's windows).")


class TagCountSerializer(serializers.Serializer):
    tag = serializers.CharField()
    count = serializers.IntegerField(help_text="How many of the matching tracks carry the tag.")


class TrackSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="track-detail")
    dataset = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    audio_url = serializers.SerializerMethodField(help_text="Streams the audio; supports HTTP range requests.")
    tags = serializers.SerializerMethodField(
        help_text="The track's tags in the active embedding space, best first; empty when its encoder has no tags."
    )

    class Meta:
        model = Track
        fields = [
            "id", "url", "dataset", *DESCRIPTIVE_FIELDS, "external_id",
            "duration", "sample_rate", "channels", "format", "size_bytes", "sha256",
            "status", "error", "metadata", "audio_url", "tags", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_audio_url(self, track):
        return self.context["request"].build_absolute_uri(reverse("catalog:track-audio", args=[track.pk]))

    @extend_schema_field(TagScoreSerializer(many=True))
    def get_tags(self, track):
        return [{"tag": tag, "score": score} for tag, score in tag_scores(track)]


class _JsonTyped:
    """Takes only values of its JSON type: DRF would read 0 as "0" and "7" as 7, which the
    schema calls invalid."""

    json_type = object

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, self.json_type):
            self.fail("invalid")
        return super().to_internal_value(data)


class JsonTextField(_JsonTyped, serializers.CharField):
    json_type = str


class JsonIntegerField(_JsonTyped, serializers.IntegerField):
    json_type = int


class TrackMetadataSerializer(serializers.ModelSerializer):
    """What a curator may change on a track: its descriptive fields (JSON). The rest is
    measured from the file or set by the pipeline."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: JsonTextField,
        models.PositiveSmallIntegerField: JsonIntegerField,
    }

    class Meta:
        model = Track
        fields = list(DESCRIPTIVE_FIELDS)


class TrackUploadSerializer(serializers.ModelSerializer):
    """Input of an upload: the file, its dataset and optional descriptive fields, which win
    over the file's own tags."""

    file = serializers.FileField(help_text="WAV, AIFF, FLAC, OGG or MP3.")
    dataset = serializers.SlugRelatedField(
        slug_field="slug", queryset=Dataset.objects.all(), help_text="Slug of the dataset to add it to."
    )

    class Meta:
        model = Track
        fields = ["file", "dataset", *DESCRIPTIVE_FIELDS, "external_id"]
        extra_kwargs = {
            "title": {"required": False, "help_text": "Defaults to the file's title tag, else its name."}
        }


class ExistingTrackSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()


class DuplicateErrorDetailSerializer(ErrorDetailSerializer):
    existing = ExistingTrackSerializer(help_text="The track that already holds this audio.")


class DuplicateErrorSerializer(serializers.Serializer):
    error = DuplicateErrorDetailSerializer()



class TrackBriefSerializer(serializers.ModelSerializer):
    """A track named in another answer: enough to show and open it."""

    url = serializers.HyperlinkedIdentityField(view_name="track-detail")
    dataset = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Track
        fields = ["id", "url", "title", "dataset", "status", "created_at"]
        read_only_fields = fields


class TrackUploadResultSerializer(TrackSerializer):
    same_audio_as = TrackBriefSerializer(
        many=True, read_only=True,
        help_text="Tracks of other datasets with identical content (sha256): the upload is accepted and the "
        "pair listed for curators at /api/v1/duplicates/. Empty for new audio.",
    )

    class Meta(TrackSerializer.Meta):
        fields = [*TrackSerializer.Meta.fields, "same_audio_as"]
        read_only_fields = fields


class TrackDuplicateSerializer(serializers.ModelSerializer):
    track = TrackBriefSerializer(read_only=True, help_text="The newer track: the one a merge deletes.")
    of_track = TrackBriefSerializer(read_only=True, help_text="The older track: the one a merge keeps.")

    class Meta:
        model = TrackDuplicate
        fields = ["id", "kind", "score", "decision", "track", "of_track", "created_at", "decided_at"]
        read_only_fields = fields


class MergeResultSerializer(serializers.Serializer):
    kept = TrackBriefSerializer(help_text="The older track, which remains.")
    deleted_id = serializers.IntegerField(help_text="The id of the newer track, now deleted with its files.")

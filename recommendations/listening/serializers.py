from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from recommendations.listening.paths import MAX_STEPS
from recommendations.listening.radio import DEFAULT_VARIANCE, MAX_COUNT, MAX_RANDOM_SEED
from recommendations.listening.rules import MAX_HISTORY, MAX_WINDOW, Caps
from recommendations.serializers import (
    LayerCosineSerializer,
    LayerWeightsField,
    RecommendationSerializer,
    SimilarityQuerySerializer,
    SpaceSummarySerializer,
    TrackSummarySerializer,
)


@extend_schema_field({"type": "string", "example": "12,7,31"})
class CommaListField(serializers.CharField):
    """Comma-separated values, as a list; `child` types each one (a list in a JSON body is read too)."""

    def __init__(self, child=None, **kwargs):
        self.child = child or serializers.CharField()
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        items = data if isinstance(data, list) else super().to_internal_value(data).split(",")
        items = [item.strip() if isinstance(item, str) else item for item in items]
        return [self.child.run_validation(item) for item in items if item != ""]


def track_ids(**kwargs):
    return CommaListField(child=serializers.IntegerField(min_value=1), **kwargs)


class ListeningQuerySerializer(SimilarityQuerySerializer):
    """What similar means, filters and caps: types only; the service checks ranges and names
    each problem with its own code (bad_cap, bad_duration, unknown_dataset, unknown_tag, ...)."""

    k = None  # radio has count, paths steps
    dataset = serializers.CharField(required=False, help_text="Only tracks of the dataset with this slug.")
    tags = CommaListField(
        required=False,
        help_text="Only tracks carrying every one of these tags of the active space (comma-separated; see the "
        "catalogue's tag filter). An unknown tag is a 400 unknown_tag.",
    )
    min_duration = serializers.FloatField(required=False, help_text="Only tracks at least this many seconds long.")
    max_duration = serializers.FloatField(required=False, help_text="Only tracks at most this many seconds long.")
    window = serializers.IntegerField(
        required=False,
        help_text=f"The caps count within any this many consecutive tracks (the seed, those played, those chosen), "
        f"1 to {MAX_WINDOW}; default {Caps.window}.",
    )
    max_per_composer = serializers.IntegerField(
        required=False, help_text=f"At most this many tracks of one composer within the window; default "
        f"{Caps.max_per_composer}. A cap of window or more is none."
    )
    max_per_work = serializers.IntegerField(
        required=False, help_text=f"At most this many recordings of one work (same work and composer) within the "
        f"window; default {Caps.max_per_work}."
    )
    max_per_album = serializers.IntegerField(
        required=False, help_text=f"At most this many tracks of one album within the window; default "
        f"{Caps.max_per_album}."
    )
    max_per_dataset = serializers.IntegerField(
        required=False, help_text="At most this many tracks of one dataset within the window; default: no cap."
    )


class RadioQuerySerializer(ListeningQuerySerializer):
    track = serializers.IntegerField(
        required=False, help_text="The seed track (a 404 when there is none); give a track or a clip."
    )
    start = serializers.FloatField(
        required=False, help_text="With end: seed the radio with seconds start-end of the track (the mean of the "
        "windows overlapping them)."
    )
    end = serializers.FloatField(required=False, help_text="End of the seed passage, in seconds.")
    clip = serializers.IntegerField(
        required=False, help_text="A search clip as the seed (POST /api/v1/search/clip/): its owner's or staff's only."
    )
    count = serializers.IntegerField(default=10, help_text=f"How many tracks, 1 to {MAX_COUNT}.")
    played = track_ids(
        default=list,
        help_text=f"Track ids already heard, most recent last, comma-separated, at most {MAX_HISTORY}: none comes "
        "again, nor a copy of its recording (same audio or a duplicate pair), and the caps count them.",
    )
    variance = serializers.FloatField(
        default=DEFAULT_VARIANCE,
        help_text="0 (each track near the seed) to 1 (each track near the last one heard): per layer, the query "
        "is (1 - variance) * seed + variance * last track.",
    )
    seed = serializers.IntegerField(
        source="random_seed", required=False,
        help_text=f"Random seed, 0 to {MAX_RANDOM_SEED}: the same request with the same seed gives the same tracks; "
        "without it one is drawn and returned as random_seed.",
    )


class RadioStartSerializer(RadioQuerySerializer):
    played = None  # a session starts with nothing heard


class RadioNextSerializer(serializers.Serializer):
    count = serializers.IntegerField(default=10, help_text=f"How many tracks, 1 to {MAX_COUNT}.")


class PathQuerySerializer(ListeningQuerySerializer):
    start = serializers.IntegerField(help_text="The track the path starts from (not among the steps).")
    end = serializers.IntegerField(help_text="The track the path leads to (not among the steps).")
    steps = serializers.IntegerField(default=8, help_text=f"How many tracks between them, 1 to {MAX_STEPS}.")


class RadioSerializer(serializers.Serializer):
    seed = TrackSummarySerializer(source="seed.track", allow_null=True, help_text="The seed track; null for a clip.")
    start = serializers.FloatField(source="seed.start", allow_null=True, help_text="The seed passage, if any.")
    end = serializers.FloatField(source="seed.end", allow_null=True)
    clip = serializers.SerializerMethodField(help_text="The seed clip's id; null for a track.")
    space = SpaceSummarySerializer()
    description = serializers.CharField(help_text="What similar means here, and how variance blends the query.")
    layers = LayerWeightsField()
    random_seed = serializers.IntegerField(help_text="Send it back as seed to get the same tracks again.")
    exhausted = serializers.BooleanField(
        help_text="Fewer results than asked: nothing left near the seed that the filters, caps and history allow."
    )
    results = RecommendationSerializer(
        many=True, help_text="In play order; each score and its layers' cosines are to the blended query."
    )

    def get_clip(self, found) -> int | None:
        return found.seed.clip.pk if found.seed.clip is not None else None


class SessionFieldsMixin(serializers.Serializer):
    """The session's own fields; the session comes in the context."""

    id = serializers.SerializerMethodField(help_text="The session's unguessable id: whoever holds it may use an "
                                           "anonymous session.")
    url = serializers.SerializerMethodField()
    next = serializers.SerializerMethodField(help_text="POST here ({\"count\": n}) for the next tracks.")
    expires_at = serializers.SerializerMethodField(
        help_text="When the session is forgotten unless used again (MESS_RADIO_SESSION_SECONDS after its last use)."
    )

    def get_id(self, _) -> str:
        return self.context["session"].id

    def get_url(self, _) -> str:
        return reverse("radio-session", args=[self.context["session"].id], request=self.context["request"])

    def get_next(self, _) -> str:
        return reverse("radio-next", args=[self.context["session"].id], request=self.context["request"])

    @extend_schema_field(serializers.DateTimeField())
    def get_expires_at(self, _):
        return serializers.DateTimeField().to_representation(self.context["session"].expires_at)


class RadioSessionResultsSerializer(SessionFieldsMixin, RadioSerializer):
    """A session's tracks: the first ones at its start, then each `next`."""


class RadioSessionSerializer(SessionFieldsMixin):
    parameters = serializers.DictField(
        help_text="What the radio was asked for (ids for track and clip, random_seed included)."
    )
    played = serializers.ListField(child=serializers.IntegerField(), help_text="Track ids served, oldest first.")


class PathStepSerializer(RecommendationSerializer):
    track = TrackSummarySerializer(source="recommendation.track")
    score = serializers.FloatField(
        source="recommendation.score", help_text="Similarity to the step's target point on the way."
    )
    explanation = serializers.CharField(source="recommendation.explanation")
    position = serializers.FloatField(help_text="Where the step's target lies: 0 is start, 1 is end. Steps come in order of "
        "progress (score_to_end - score_to_start), so a step's target may lie a little before the one before it.")
    score_to_start = serializers.FloatField(help_text="Similarity to the start track (weighted cosine sum).")
    score_to_end = serializers.FloatField(help_text="Similarity to the end track.")

    @extend_schema_field(LayerCosineSerializer(many=True))
    def get_layers(self, step):
        return super().get_layers(step.recommendation)


class TrackPathSerializer(serializers.Serializer):
    start = TrackSummarySerializer()
    end = TrackSummarySerializer()
    space = SpaceSummarySerializer()
    description = serializers.CharField()
    layers = LayerWeightsField()
    steps = PathStepSerializer(many=True, help_text="From start to end; fewer than asked when the rules leave "
                                                    "nothing near a target.")

"""API v1 over the catalogue: anyone reads; curators (catalog model permissions) write."""

from django.db.models import Count
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission, DjangoModelPermissionsOrAnonReadOnly
from rest_framework.response import Response

from analysis.services import active_space
from analysis.tags import tag_counts, with_tags
from catalog import duplicates
from catalog.audio import AudioRejected
from catalog.filters import TrackFilter
from catalog.intake import DuplicateTrack, delete_dataset, delete_track, ingest_upload
from catalog.models import Dataset, Track, TrackDuplicate
from catalog.selectors import ORDERING_FIELDS
from catalog.serializers import (
    DatasetSerializer,
    DuplicateErrorSerializer,
    MergeResultSerializer,
    TagCountSerializer,
    TrackDuplicateSerializer,
    TrackMetadataSerializer,
    TrackSerializer,
    TrackUploadResultSerializer,
    TrackUploadSerializer,
)
from messsite.api_errors import error_responses

class UnacceptableAudio(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The file is not audio MESS accepts."
    default_code = "audio_rejected"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the catalogue's current state."
    default_code = "conflict"


class OneFilePerRequest(exceptions.APIException):
    status_code = 400
    default_code = "one_file_per_request"


class DuplicateAudio(Conflict):
    default_code = "duplicate"

    def __init__(self, detail, existing):
        super().__init__(detail)
        self.existing = existing


@extend_schema_view(
    retrieve=extend_schema(responses={200: DatasetSerializer, **error_responses(404)}),
    create=extend_schema(responses={201: DatasetSerializer, **error_responses(400, 401, 403)}),
    update=extend_schema(responses={200: DatasetSerializer, **error_responses(400, 401, 403, 404)}),
    partial_update=extend_schema(responses={200: DatasetSerializer, **error_responses(400, 401, 403, 404)}),
    destroy=extend_schema(
        description="Deletes the dataset, its tracks, and their audio files unless other tracks share them.",
        responses={204: None, **error_responses(401, 403, 404)},
    ),
)
class DatasetViewSet(viewsets.ModelViewSet):
    # Ordered explicitly: Django drops Meta.ordering from GROUP BY queries such as this one.
    queryset = Dataset.objects.annotate(track_count=Count("tracks")).order_by("name")
    serializer_class = DatasetSerializer
    permission_classes = [DjangoModelPermissionsOrAnonReadOnly]
    lookup_field = "slug"

    def perform_destroy(self, dataset):
        delete_dataset(dataset)


@extend_schema_view(
    list=extend_schema(responses={200: TrackSerializer(many=True), **error_responses(400)}),
    retrieve=extend_schema(responses={200: TrackSerializer, **error_responses(404)}),
    destroy=extend_schema(
        description="Deletes the track, and its audio file unless another track shares it.",
        responses={204: None, **error_responses(401, 403, 404)},
    ),
)
class TrackViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    queryset = Track.objects.select_related("dataset")
    serializer_class = TrackSerializer
    permission_classes = [DjangoModelPermissionsOrAnonReadOnly]
    parser_classes = [MultiPartParser]
    filterset_class = TrackFilter
    search_fields = ["title", "composer", "work", "performer"]
    ordering_fields = ORDERING_FIELDS

    def get_parsers(self):
        # An upload is multipart, an edit JSON; anything else is a 415.
        if self.request is not None and self.request.method == "PATCH":
            return [JSONParser()]
        return super().get_parsers()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no database at hand
            return super().get_queryset()
        return with_tags(super().get_queryset(), active_space())

    @extend_schema(
        summary="Tag counts (facets)",
        description="For the tracks the same filters select (dataset, composer, status, search, tag, ...): how "
        "many carry each tag of the active embedding space, most common first. Empty when its encoder has no tags.",
        responses={200: TagCountSerializer(many=True), **error_responses(400)},
    )
    @action(detail=False, pagination_class=None)
    def tags(self, request):
        tracks = self.filter_queryset(self.get_queryset())
        return Response(TagCountSerializer(tag_counts(tracks, active_space()), many=True).data)

    @extend_schema(
        summary="Upload a track",
        description="Validates the audio and stores it once (content-addressed) as a pending track. The same "
        "audio in another dataset is accepted and named in `same_audio_as`; in the same dataset it is refused (409).",
        request={"multipart/form-data": TrackUploadSerializer},
        responses={
            201: TrackUploadResultSerializer,
            **error_responses(400, 401, 403),
            409: OpenApiResponse(DuplicateErrorSerializer, description="The dataset already holds this audio."),
        },
    )
    def create(self, request):
        sent = len(request.FILES.getlist("file"))
        if sent > 1:  # a form keeps only the last value of a repeated field: refuse, never drop
            raise OneFilePerRequest(
                f"This endpoint takes one file per request, not {sent}; nothing was stored. Send each file in "
                "its own request (the admin's upload page takes many at once)."
            )
        params = TrackUploadSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        fields = dict(params.validated_data)
        try:
            track = ingest_upload(fields.pop("dataset"), fields.pop("file"), **fields)
        except AudioRejected as exc:
            raise UnacceptableAudio(exc.message, code=exc.code) from exc
        except DuplicateTrack as exc:
            raise DuplicateAudio(str(exc), existing=exc.existing) from exc
        data = TrackUploadResultSerializer(track, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit a track's descriptive fields",
        description="Curators only (the change_track permission). Only the fields given change; a blank text "
        "field or a null year or track number clears it, but the title cannot be blank.",
        request=TrackMetadataSerializer,
        responses={200: TrackSerializer, **error_responses(400, 401, 403, 404)},
    )
    def partial_update(self, request, pk=None):
        params = TrackMetadataSerializer(self.get_object(), data=request.data, partial=True)
        params.is_valid(raise_exception=True)
        params.save()
        # Read back through get_queryset: the response carries the annotated tags too.
        return Response(self.get_serializer(self.get_object()).data)

    def perform_destroy(self, track):
        delete_track(track)

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if isinstance(exc, DuplicateAudio):
            # The shared error body has no slot for this; the client needs it to reuse the track.
            response.data["error"]["existing"] = {
                "id": exc.existing.pk,
                "url": self.reverse_action("detail", args=[exc.existing.pk]),
            }
        return response


class MayDecideDuplicates(BasePermission):
    message = "Only curators (staff allowed to change duplicate pairs and delete tracks) may see and decide duplicates."

    def has_permission(self, request, view):
        return duplicates.can_decide_duplicates(request.user)


class AlreadyDecided(Conflict):
    default_code = "already_decided"


@extend_schema_view(
    list=extend_schema(
        summary="Duplicate pairs",
        description="Curators only. Pairs of tracks with the same audio (kind `exact`, by content hash, found at "
        "upload) or nearly the same (kind `near`, by whole-track embeddings, found after extraction), newest "
        "first; filter with ?decision=pending and ?kind=.",
        responses={200: TrackDuplicateSerializer(many=True), **error_responses(400, 401, 403)},
    ),
)
class DuplicateViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = TrackDuplicate.objects.select_related("track__dataset", "of_track__dataset")
    serializer_class = TrackDuplicateSerializer
    permission_classes = [MayDecideDuplicates]
    filterset_fields = ["decision", "kind"]
    ordering_fields = ["created_at", "score"]

    @extend_schema(
        summary="Keep both tracks",
        description="Curators only. Marks a pending pair as kept: both tracks stay and the pair leaves the "
        "pending list. 409 when the pair was already decided.",
        request=None,
        responses={200: TrackDuplicateSerializer, **error_responses(401, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def keep(self, request, pk=None):
        try:
            pair = duplicates.keep_both(self.get_object())
        except duplicates.DecisionError as exc:
            raise AlreadyDecided(str(exc)) from exc
        return Response(self.get_serializer(pair).data)

    @extend_schema(
        summary="Merge the pair",
        description="Curators only. Keeps the older track (`of_track`) and deletes the newer one (`track`) with "
        "its files, after moving to the older one the descriptive fields it lacks and the newer track's other "
        "duplicate pairs. 409 when the pair was already decided.",
        request=None,
        responses={200: MergeResultSerializer, **error_responses(401, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        try:
            merged = duplicates.merge(self.get_object())
        except duplicates.DecisionError as exc:
            raise AlreadyDecided(str(exc)) from exc
        return Response(MergeResultSerializer(merged, context=self.get_serializer_context()).data)

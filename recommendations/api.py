"""API v1 over recommendations: similar tracks and passages, search by clip, the aspect
map, the indices' state."""

from functools import partial

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis.clips import create_clip_query
from analysis.models import ClipQuery
from catalog.api import UnacceptableAudio
from catalog.audio import AudioRejected
from catalog.models import Track
from messsite.api_errors import error_responses, refusing
from recommendations import index
from recommendations.aspects import DEFAULT_ASPECT, aspect_map
from recommendations.clips import ClipSearch, search_with_clip
from recommendations.passages import similar_passages
from recommendations.recommender import RecommendationError, require_active_space, similar_tracks
from recommendations.serializers import (
    AspectMapSerializer,
    ClipQueryParamsSerializer,
    ClipSearchSerializer,
    ClipUploadSerializer,
    IndexStatusSerializer,
    PassageQuerySerializer,
    SimilarPassagesSerializer,
    SimilarQuerySerializer,
    SimilarTracksSerializer,
)

# `with refusals():` a RecommendationError raised inside becomes the API's refusal. Nothing
# to compare with is a missing resource; a passage index not built yet is a retry later;
# every other refusal is a bad request.
refusals = partial(refusing, RecommendationError, {"no_space": 404, "no_embeddings": 404, "indexing": 503})


def query_values(request):
    """The query as the parameters' serializer should read it, as the schema describes it:
    each parameter once, and an empty value a value (for a QueryDict, DRF reads an empty
    optional value as not given and quietly takes the last of repeated ones)."""
    repeated = {name: ["Give this parameter once."] for name, values in request.query_params.lists() if len(values) > 1}
    if repeated:
        raise exceptions.ValidationError(repeated)
    return request.query_params.dict()


class TrackQueryView(APIView):
    """GET about one track: validate the query parameters, call the service, serialise."""

    query_serializer = None
    response_serializer = None
    service = None  # a recommender function: service(track, **validated parameters)

    def get(self, request, pk):
        track = get_object_or_404(Track.objects.select_related("dataset"), pk=pk)
        params = self.query_serializer(data=query_values(request))
        params.is_valid(raise_exception=True)
        with refusals():
            found = self.service(track, **params.validated_data)
        return Response(self.response_serializer(found, context={"request": request}).data)


@extend_schema_view(
    get=extend_schema(
        summary="Tracks similar to a track",
        description="Similar by one musical aspect, one layer, or a weighted mix of aspects, in the active "
        "embedding space; each result says which layers made it similar and how much. k results a page from "
        "offset on; next (or next_offset) is the following page, down to MESS_SIMILAR_MAX_DEPTH results. order "
        "says whether diversity reordered them.",
        parameters=[SimilarQuerySerializer],
        responses={200: SimilarTracksSerializer, **error_responses(400, 404)},
    )
)
class SimilarTracksView(TrackQueryView):
    query_serializer = SimilarQuerySerializer
    response_serializer = SimilarTracksSerializer
    service = staticmethod(similar_tracks)


@extend_schema_view(
    get=extend_schema(
        summary="Passages similar to a span of a track",
        description="Windows of the catalogue like seconds start-end of this track, by aspect, layer or mix, "
        "in the active embedding space. The query is the mean of the track's windows overlapping the span; "
        "those windows are never returned, the track's other passages may be (marked same_track) unless "
        "exclude_self.",
        parameters=[PassageQuerySerializer],
        responses={200: SimilarPassagesSerializer, **error_responses(400, 404, 503)},
    )
)
class SimilarPassagesView(TrackQueryView):
    query_serializer = PassageQuerySerializer
    response_serializer = SimilarPassagesSerializer
    service = staticmethod(similar_passages)


class ClipSearchView(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Search by an audio clip",
        description="Stores the clip and queues its embedding; poll the returned url for similar tracks "
        "and passages.",
        request={"multipart/form-data": ClipUploadSerializer},
        responses={202: ClipSearchSerializer, **error_responses(400, 401)},
    )
    def post(self, request):
        params = ClipUploadSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            clip = create_clip_query(params.validated_data["file"], owner=request.user)
        except AudioRejected as exc:
            raise UnacceptableAudio(exc.message, code=exc.code) from exc
        body = ClipSearchSerializer(ClipSearch(clip, None, None), context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class ClipSearchDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="State and results of a clip search",
        description="Once the clip is embedded (status succeeded): tracks similar to it (its mean over windows "
        "per layer) and passages similar to it. Only its owner and staff see a clip.",
        parameters=[ClipQueryParamsSerializer],
        responses={200: ClipSearchSerializer, **error_responses(400, 401, 404, 503)},
    )
    def get(self, request, pk):
        clips = ClipQuery.objects.select_related("space")
        if not request.user.is_staff:
            clips = clips.filter(owner=request.user)
        clip = get_object_or_404(clips, pk=pk)
        params = ClipQueryParamsSerializer(data=query_values(request))
        params.is_valid(raise_exception=True)
        with refusals():
            found = search_with_clip(clip, **params.validated_data)
        return Response(ClipSearchSerializer(found, context={"request": request}).data)


class AspectMapView(APIView):
    @extend_schema(
        summary="Musical aspects and their layers",
        description="The active space's aspect map with its evidence: which layers each aspect uses, "
        "the probe's R² where there is one, the confidence and the source.",
        responses={200: AspectMapSerializer, **error_responses(404)},
    )
    def get(self, request):
        with refusals():
            space = require_active_space()
        aspects = list(aspect_map(space).values())
        data = {"space": space, "default_aspect": DEFAULT_ASPECT, "aspects": aspects}
        return Response(AspectMapSerializer(data).data)


class IndexStatusView(APIView):
    @extend_schema(
        summary="State of the similarity indices",
        description="One entry per (embedding space, layer): the indices the answering process holds or was asked "
        "for, then those saved (e.g. by build_indexes) that it maps at their first query.",
        responses={200: IndexStatusSerializer},
    )
    def get(self, request):
        return Response(IndexStatusSerializer({"indices": index.index_status()}).data)

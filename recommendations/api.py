"""API v1 over recommendations: similar tracks, the aspect map, the indices' state."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Track
from messsite.api_errors import error_responses
from recommendations import index
from recommendations.aspects import DEFAULT_ASPECT, aspect_map
from recommendations.recommender import RecommendationError, require_active_space, similar_tracks
from recommendations.serializers import (
    AspectMapSerializer,
    IndexStatusSerializer,
    SimilarQuerySerializer,
    SimilarTracksSerializer,
)

# Nothing to compare with is a missing resource; every other refusal is a bad request.
NOT_FOUND_CODES = {"no_space", "no_embeddings"}


class Refused(exceptions.APIException):
    """A RecommendationError in the shared error shape, its code kept."""

    def __init__(self, error):
        super().__init__(error.message, code=error.code)
        self.status_code = 404 if error.code in NOT_FOUND_CODES else 400


class SimilarTracksView(APIView):
    @extend_schema(
        summary="Tracks similar to a track",
        description="Similar by one musical aspect, one layer, or a weighted mix of aspects, in the active "
        "embedding space; each result says which layers made it similar and how much.",
        parameters=[SimilarQuerySerializer],
        responses={200: SimilarTracksSerializer, **error_responses(400, 404)},
    )
    def get(self, request, pk):
        track = get_object_or_404(Track.objects.select_related("dataset"), pk=pk)
        params = SimilarQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        try:
            found = similar_tracks(track, **params.validated_data)
        except RecommendationError as exc:
            raise Refused(exc) from exc
        return Response(SimilarTracksSerializer(found, context={"request": request}).data)


class AspectMapView(APIView):
    @extend_schema(
        summary="Musical aspects and their layers",
        description="The active space's aspect map with its evidence: which layers each aspect uses, "
        "the probe's R² where there is one, the confidence and the source.",
        responses={200: AspectMapSerializer, **error_responses(404)},
    )
    def get(self, request):
        try:
            space = require_active_space()
        except RecommendationError as exc:
            raise Refused(exc) from exc
        aspects = list(aspect_map(space).values())
        data = {"space": space, "default_aspect": DEFAULT_ASPECT, "aspects": aspects}
        return Response(AspectMapSerializer(data).data)


class IndexStatusView(APIView):
    @extend_schema(
        summary="State of the similarity indices",
        description="One entry per (embedding space, layer) index held by the process that answers.",
        responses={200: IndexStatusSerializer},
    )
    def get(self, request):
        return Response(IndexStatusSerializer({"indices": index.index_status()}).data)

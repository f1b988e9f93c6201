"""API v1 over analysis: embedding spaces, extraction jobs, and asking for extraction."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis.models import EmbeddingSpace, ExtractionJob
from analysis.serializers import EmbeddingSpaceSerializer, ExtractionJobSerializer, ExtractRequestSerializer
from analysis.services import request_extraction
from catalog.models import Track
from messsite.api_errors import error_responses


class EmbeddingSpaceViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = EmbeddingSpace.objects.order_by("-is_active", "-created_at")
    serializer_class = EmbeddingSpaceSerializer


class ExtractionJobViewSet(viewsets.ReadOnlyModelViewSet):
    """Extraction jobs, newest first; filter with ?track=ID and ?status=. Signed-in users only:
    jobs name worker hosts."""

    permission_classes = [IsAuthenticated]
    queryset = ExtractionJob.objects.select_related("track")
    serializer_class = ExtractionJobSerializer
    filterset_fields = ["track", "status", "space"]


class ExtractTrackView(APIView):
    """Staff: queue (re-)extraction of one track."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        request=ExtractRequestSerializer,
        responses={202: ExtractionJobSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request, pk):
        params = ExtractRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        track = get_object_or_404(Track, pk=pk)
        [job] = request_extraction([track], **params.validated_data)
        return Response(ExtractionJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

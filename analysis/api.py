"""API v1 over analysis: embedding spaces, extraction jobs and asking for extraction,
probe runs (layer discovery) with their results and exports."""

import csv
import io

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, renderers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis.models import EmbeddingSpace, ExtractionJob, ProbeRun
from analysis.probe_results import csv_rows, export
from analysis.serializers import (
    EmbeddingSpaceSerializer,
    ExtractionJobSerializer,
    ExtractRequestSerializer,
    ProbeRequestSerializer,
    ProbeRunDetailSerializer,
    ProbeRunSerializer,
)
from analysis.jobs import can_request_extraction, can_start_probe
from analysis.services import RetryRefused, active_space, request_extraction, request_probe, restart_stale_job
from catalog.models import Track
from messsite.api_errors import error_responses


class EmbeddingSpaceViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = EmbeddingSpace.objects.order_by("-is_active", "-created_at")
    serializer_class = EmbeddingSpaceSerializer


class MayRequestExtraction(BasePermission):
    """What the pages ask (analysis.jobs.can_request_extraction): curators, not staff alone."""

    message = "Only curators (staff allowed to change tracks and extraction jobs) may queue extraction."

    def has_permission(self, request, view):
        return can_request_extraction(request.user)


class ExtractionJobViewSet(viewsets.ReadOnlyModelViewSet):
    """Extraction jobs, newest first; filter with ?track=ID and ?status=. Signed-in users only:
    jobs name worker hosts."""

    permission_classes = [IsAuthenticated]
    queryset = ExtractionJob.objects.select_related("track")
    serializer_class = ExtractionJobSerializer
    filterset_fields = ["track", "status", "space"]

    @extend_schema(
        request=None,
        responses={202: ExtractionJobSerializer, **error_responses(401, 403, 404, 409)},
        description="Curators: put back in the queue a running job whose worker is gone (killed mid-track). "
        "Refused (409) while the job is not running, or while its worker still reports and answers.",
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, MayRequestExtraction])
    def restart(self, request, pk=None):
        job = self.get_object()
        try:
            restart_stale_job(job)
        except RetryRefused as exc:
            raise JobStillRunning(str(exc)) from exc
        return Response(ExtractionJobSerializer(job, context={"request": request}).data,
                        status=status.HTTP_202_ACCEPTED)


class JobStillRunning(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "not_restartable"


class ExtractTrackView(APIView):
    """Curators: queue (re-)extraction of one track."""

    permission_classes = [MayRequestExtraction]

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


class ProbeExportCSVRenderer(renderers.BaseRenderer):
    """?format=csv on a probe run's export: one row per (layer, target) and per weighted target."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if "layers" not in data:  # an error body
            return renderers.JSONRenderer().render(data)
        out = io.StringIO()
        csv.writer(out).writerows(csv_rows(data))
        return out.getvalue().encode()


class CuratorsCanPost(BasePermission):
    """Anyone reads; starting a run asks what the pages ask (analysis.jobs.can_start_probe)."""

    message = "Only curators (staff allowed to add probe runs) may start probe runs."

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or can_start_probe(request.user)


class ProbeRunViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Probe runs, newest first (filter with ?space= and ?status=); curators start new ones."""

    permission_classes = [CuratorsCanPost]
    queryset = ProbeRun.objects.select_related("dataset")
    filterset_fields = ["space", "status", "dataset"]

    def get_queryset(self):
        # Results only where they are shown: one run's detail or export, not the list.
        return self.queryset if self.action == "list" else self.queryset.prefetch_related("results")

    def get_serializer_class(self):
        return ProbeRunSerializer if self.action == "list" else ProbeRunDetailSerializer

    @extend_schema(
        request=ProbeRequestSerializer,
        responses={202: ProbeRunDetailSerializer, **error_responses(400, 401, 403)},
        description="Queue layer discovery on the ml queue; poll the run's url for progress and results.",
    )
    def create(self, request):
        params = ProbeRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        space = data.get("space") or active_space()
        if space is None:
            message = "No embedding space is active yet: extract some tracks first."
            raise exceptions.ValidationError({"space": [message]})
        run = request_probe(space, dataset=data.get("dataset"), targets=data["targets"],
                            parameters={"folds": data["folds"]}, user=request.user)
        body = ProbeRunDetailSerializer(run, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="A probe run's results as JSON or CSV",
        description="{layers: {layer: {target: {r2, r2_std, corr, corr_std, rmse, rmse_std}}}, weighted: {target: "
        "{r2, ..., weights, gain}}, baseline, targets, samples}; ?format=csv gives one row per score.",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT), **error_responses(404, 409)},
    )
    @action(detail=True, renderer_classes=[renderers.JSONRenderer, ProbeExportCSVRenderer])
    def export(self, request, pk=None):
        run = self.get_object()
        if run.status != ProbeRun.Status.SUCCEEDED:
            raise RunNotFinished(run)
        response = Response(export(run))
        if request.accepted_renderer.format == "csv":
            response["Content-Disposition"] = f'attachment; filename="probe-run-{run.pk}.csv"'
        return response


class RunNotFinished(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "not_finished"

    def __init__(self, run):
        super().__init__(f"Probe run {run.pk} is {run.status}; results exist once it has succeeded.")

from django.urls import path
from rest_framework.routers import SimpleRouter

from analysis.api import EmbeddingSpaceViewSet, ExtractionJobViewSet, ExtractTrackView, ProbeRunViewSet

router = SimpleRouter(trailing_slash=True)  # the API root is catalog's
router.register("spaces", EmbeddingSpaceViewSet, basename="space")
router.register("extraction-jobs", ExtractionJobViewSet, basename="extraction-job")
router.register("probes", ProbeRunViewSet, basename="probe")
urlpatterns = [
    path("tracks/<int:pk>/extract/", ExtractTrackView.as_view(), name="track-extract"),
    *router.urls,
]

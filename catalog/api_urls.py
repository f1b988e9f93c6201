from rest_framework.routers import DefaultRouter

from catalog.api import DatasetViewSet, DuplicateViewSet, TrackViewSet

router = DefaultRouter(trailing_slash=True)
router.register("datasets", DatasetViewSet, basename="dataset")
router.register("tracks", TrackViewSet, basename="track")
router.register("duplicates", DuplicateViewSet, basename="duplicate")
urlpatterns = router.urls

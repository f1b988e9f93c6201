from rest_framework.routers import DefaultRouter

from catalog.api import DatasetViewSet, TrackViewSet

router = DefaultRouter(trailing_slash=True)
router.register("datasets", DatasetViewSet, basename="dataset")
router.register("tracks", TrackViewSet, basename="track")
urlpatterns = router.urls

from rest_framework.routers import SimpleRouter

from catalog.playlists.api import PlaylistViewSet

router = SimpleRouter(trailing_slash=True)
router.register("playlists", PlaylistViewSet, basename="playlist")
urlpatterns = router.urls

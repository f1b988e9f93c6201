from django.urls import path

from recommendations.api import AspectMapView, IndexStatusView, SimilarTracksView

urlpatterns = [
    path("tracks/<int:pk>/similar/", SimilarTracksView.as_view(), name="track-similar"),
    path("aspects/", AspectMapView.as_view(), name="aspects"),
    path("index/status/", IndexStatusView.as_view(), name="index-status"),
]

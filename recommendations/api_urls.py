from django.urls import path

from recommendations.api import (
    AspectMapView,
    ClipSearchDetailView,
    ClipSearchView,
    IndexStatusView,
    SimilarPassagesView,
    SimilarTracksView,
)
from recommendations.listening.api import PathView, RadioNextView, RadioSessionView, RadioView

urlpatterns = [
    path("tracks/<int:pk>/similar/", SimilarTracksView.as_view(), name="track-similar"),
    path("tracks/<int:pk>/passages/", SimilarPassagesView.as_view(), name="track-passages"),
    path("search/clip/", ClipSearchView.as_view(), name="clip-search"),
    path("search/clip/<int:pk>/", ClipSearchDetailView.as_view(), name="clip-search-detail"),
    path("aspects/", AspectMapView.as_view(), name="aspects"),
    path("index/status/", IndexStatusView.as_view(), name="index-status"),
    path("radio/", RadioView.as_view(), name="radio"),
    path("radio/<str:session_id>/", RadioSessionView.as_view(), name="radio-session"),
    path("radio/<str:session_id>/next/", RadioNextView.as_view(), name="radio-next"),
    path("paths/", PathView.as_view(), name="paths"),
]

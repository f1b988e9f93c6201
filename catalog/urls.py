from django.urls import path

from catalog import peaks, streaming, views

app_name = "catalog"
urlpatterns = [
    path("", views.TrackListView.as_view(), name="track-list"),
    path("tracks/<int:pk>/", views.TrackDetailView.as_view(), name="track-detail"),
    path("tracks/<int:pk>/audio", streaming.track_audio, name="track-audio"),
    path("tracks/<int:pk>/peaks.json", peaks.track_peaks, name="track-peaks"),
    path("upload/", views.UploadPageView.as_view(), name="upload"),
]

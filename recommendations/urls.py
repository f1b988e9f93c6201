from django.urls import path

from recommendations import views

app_name = "recommendations"
urlpatterns = [
    path("search/", views.ClipSearchPageView.as_view(), name="clip-search"),
    path("map/", views.EmbeddingMapView.as_view(), name="map"),
]

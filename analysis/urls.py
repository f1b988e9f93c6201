from django.urls import path

from analysis import views

app_name = "analysis"
urlpatterns = [
    path("layers/", views.LayerDiscoveryView.as_view(), name="layers"),
    path("jobs/", views.JobsView.as_view(), name="jobs"),
]

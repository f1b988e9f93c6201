from django.urls import path

from analysis import views

app_name = "analysis"
urlpatterns = [
    path("layers/", views.LayerDiscoveryView.as_view(), name="layers"),
    path("jobs/", views.JobsView.as_view(), name="jobs"),
    path("jobs/status.json", views.JobsStatusView.as_view(), name="jobs-status"),
    path("jobs/extraction/<int:pk>/retry/", views.RetryExtractionView.as_view(), name="job-retry"),
    path("jobs/extraction/<int:pk>/restart/", views.RestartStaleJobView.as_view(), name="job-restart"),
    path("jobs/probes/<int:pk>/run-again/", views.RunProbeAgainView.as_view(), name="probe-run-again"),
]

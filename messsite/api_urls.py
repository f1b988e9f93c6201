"""Every /api/v1/ route, gathered from the apps."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from messsite.health import HealthView, UnslashedHealthView
from messsite.security import ThrottledObtainAuthToken

urlpatterns = [
    path("", include("catalog.api_urls")),
    path("", include("catalog.playlists.api_urls")),
    path("", include("analysis.api_urls")),
    path("", include("recommendations.api_urls")),
    # Slashed as every other route; the bare form stays for the probes already pointed at it.
    path("health/", HealthView.as_view(), name="health"),
    path("health", UnslashedHealthView.as_view()),
    path("auth/token/", ThrottledObtainAuthToken.as_view(), name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]

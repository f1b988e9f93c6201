from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("messsite.api_urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("catalog.urls")),
    path("", include("recommendations.urls")),
    path("", include("analysis.urls")),
]

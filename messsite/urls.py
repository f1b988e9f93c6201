from django.contrib import admin
from django.urls import include, path

from messsite.security import LoginView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("messsite.api_urls")),
    path("accounts/login/", LoginView.as_view(), name="login"),  # with the sign-in lockout
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("catalog.urls")),
    path("", include("recommendations.urls")),
    path("", include("analysis.urls")),
]

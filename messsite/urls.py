from django.contrib import admin
from django.urls import include, path

from catalog.subsonic import account
from messsite.security import LockoutAdminAuthenticationForm, LoginView, admin_login

admin.site.login_form = LockoutAdminAuthenticationForm  # the lockout's reason as its error

# A URL no route takes answers in the API's error shape under /api/ (when DEBUG is off).
handler404 = "messsite.api_errors.page_not_found"

urlpatterns = [
    path("admin/login/", admin_login),  # with the sign-in lockout's 429 and Retry-After
    path("admin/", admin.site.urls),
    path("api/v1/", include("messsite.api_urls")),
    path("rest/", include("catalog.subsonic.urls")),  # the OpenSubsonic API, for players
    path("accounts/login/", LoginView.as_view(), name="login"),  # with the sign-in lockout
    path("accounts/", include("django.contrib.auth.urls")),
    path("accounts/keys/", account.api_keys, name="subsonic-keys"),
    path("accounts/keys/<int:pk>/revoke/", account.revoke, name="subsonic-key-revoke"),
    path("", include("catalog.urls")),
    path("playlists/", include("catalog.playlists.urls")),
    path("", include("recommendations.urls")),
    path("", include("analysis.urls")),
]

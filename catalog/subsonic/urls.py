from django.urls import re_path

from catalog.subsonic import views

# Every name under /rest/ reaches the view, so that an unknown one is answered in the
# protocol's own shape.
urlpatterns = [re_path(r"^(?P<name>[^/]{0,200})$", views.endpoint, name="subsonic")]

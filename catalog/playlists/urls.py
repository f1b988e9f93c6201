from django.urls import path

from catalog.playlists import views

app_name = "playlists"
urlpatterns = [
    path("", views.playlist_list, name="list"),
    path("import/", views.import_playlist, name="import"),
    path("<int:pk>/", views.playlist_detail, name="detail"),
    path("<int:pk>/tracks/", views.add_tracks, name="add-tracks"),
    path("<int:pk>/remove/", views.remove_entry, name="remove"),
    path("<int:pk>/move/", views.move_entry, name="move"),
    path("<int:pk>/public/", views.set_public, name="public"),
    path("<int:pk>/sharing/", views.set_link_sharing, name="sharing"),
    path("<int:pk>/delete/", views.delete_playlist, name="delete"),
]

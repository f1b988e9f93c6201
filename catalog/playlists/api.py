"""API v1 over playlists: anyone reads public ones, signed-in users keep their own; the
owner (or staff) writes. Another user's private playlist is a 404, their public one a 403
to write."""

import re
from functools import partial

from django.db import transaction
from django.http import HttpResponse
from django.urls import reverse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from catalog.playlists import formats, services
from catalog.playlists.selectors import entries_of, listed_playlists, visible_playlists
from catalog.playlists.serializers import (
    AddTracksSerializer,
    ExportQuerySerializer,
    ImportResultSerializer,
    ImportSerializer,
    MoveEntrySerializer,
    PlaylistCreateSerializer,
    PlaylistDetailSerializer,
    PlaylistSerializer,
    PlaylistUpdateSerializer,
)
from messsite.api_errors import ErrorSerializer, error_responses, refusing
from recommendations.api import query_values

# `with refusals():` a PlaylistError raised inside becomes the API's refusal, a 400 unless named here.
refusals = partial(refusing, services.PlaylistError, {"no_such_position": 404, "too_large": 413})
TOO_LARGE = {
    413: OpenApiResponse(ErrorSerializer, description="The file is larger than MESS_PLAYLIST_MAX_IMPORT_BYTES.")
}
FILE_TYPES = {"m3u8": formats.M3U8_CONTENT_TYPE, "xspf": formats.XSPF_CONTENT_TYPE}
POSITION = OpenApiParameter("position", int, OpenApiParameter.PATH, description="An entry's position, from 0.")


class MayEditPlaylist(BasePermission):
    """Reads for whoever may see the playlist (the queryset decides), writes for signed-in
    users, and on a playlist only for its owner or staff."""

    message = "Only the playlist's owner (or staff) may change it."

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or request.user.is_authenticated

    def has_object_permission(self, request, view, playlist):
        return request.method in SAFE_METHODS or services.may_edit(request.user, playlist)


class ListQuerySerializer(serializers.Serializer):
    mine = serializers.BooleanField(default=False, help_text="Only the signed-in user's own playlists.")


WRITE_ERRORS = error_responses(400, 401, 403, 404)


@extend_schema_view(
    list=extend_schema(
        summary="Playlists",
        description="The signed-in user's playlists and everyone's public ones (anonymous clients: the public "
        "ones), most recently changed first; ?mine=true for the user's own only.",
        parameters=[ListQuerySerializer],
        responses={200: PlaylistSerializer(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(
        summary="A playlist with its entries",
        description="Public playlists for anyone, private ones for their owner and staff (404 for others).",
        responses={200: PlaylistDetailSerializer, **error_responses(404)},
    ),
    destroy=extend_schema(summary="Delete a playlist", responses={204: None, **error_responses(401, 403, 404)}),
)
class PlaylistViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                      viewsets.GenericViewSet):  # fmt: skip
    serializer_class = PlaylistSerializer
    permission_classes = [MayEditPlaylist]
    parser_classes = [JSONParser]
    lookup_value_regex = "[0-9]+"
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created_at", "updated_at"]

    def get_queryset(self):
        if self.action == "list":
            params = ListQuerySerializer(data=query_values(self.request))
            params.is_valid(raise_exception=True)
            return listed_playlists(self.request.user, mine=params.validated_data["mine"])
        token = self.request.query_params.get("token") if self.action == "export" else None
        return visible_playlists(self.request.user, share_token=token)

    def get_serializer_class(self):
        return PlaylistSerializer if self.action == "list" else PlaylistDetailSerializer

    def detail_response(self, playlist, status_code=status.HTTP_200_OK):
        """The playlist read back with its counts, as the detail serializer shows it."""
        playlist = visible_playlists(self.request.user).get(pk=playlist.pk)
        return Response(PlaylistDetailSerializer(playlist, context={"request": self.request}).data, status=status_code)

    @extend_schema(
        summary="Create a playlist",
        description="Signed-in users. tracks is a list of ids in order (saved from similar results, a radio "
        "session, a path, a map selection); ids that name no track are refused together, naming them.",
        request=PlaylistCreateSerializer,
        responses={201: PlaylistDetailSerializer, **error_responses(400, 401, 403)},
    )
    def create(self, request):
        params = PlaylistCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        with refusals():
            playlist = services.create_playlist(request.user, **params.validated_data)
        return self.detail_response(playlist, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a playlist",
        description="The owner or staff. Only the fields given change, all or none: name, description, public, "
        "link_sharing (on: a new share token unless on already; off: the shared links stop working) and tracks "
        "(the whole new order).",
        request=PlaylistUpdateSerializer,
        responses={200: PlaylistDetailSerializer, **WRITE_ERRORS},
    )
    def partial_update(self, request, pk=None):
        playlist = self.get_object()
        params = PlaylistUpdateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        fields = dict(params.validated_data)
        sharing, tracks = fields.pop("link_sharing", None), fields.pop("tracks", None)
        with refusals(), transaction.atomic():
            services.update_playlist(playlist, **fields)
            if sharing is not None:
                services.set_link_sharing(playlist, sharing)
            if tracks is not None:
                services.replace_tracks(playlist, tracks)
        return self.detail_response(playlist)

    def perform_destroy(self, playlist):
        services.delete_playlist(playlist)

    @extend_schema(
        summary="Add tracks",
        description="The owner or staff. Inserts the tracks in order at position (the end by default); those "
        "from there on move down.",
        request=AddTracksSerializer,
        responses={200: PlaylistDetailSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="tracks")
    def add_tracks(self, request, pk=None):
        playlist = self.get_object()
        params = AddTracksSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        with refusals():
            services.add_tracks(playlist, params.validated_data["tracks"], params.validated_data.get("position"))
        return self.detail_response(playlist)

    @extend_schema(
        summary="Remove an entry",
        description="The owner or staff. Removes the entry at this position; those after it move up one.",
        parameters=[POSITION],
        responses={200: PlaylistDetailSerializer, **error_responses(401, 403, 404)},
    )
    @action(detail=True, methods=["delete"], url_path=r"tracks/(?P<position>[0-9]+)")
    def remove_entry(self, request, pk=None, position=None):
        playlist = self.get_object()
        with refusals():
            services.remove_entry(playlist, int(position))
        return self.detail_response(playlist)

    @extend_schema(
        summary="Move an entry",
        description="The owner or staff. Moves the entry at this position to `to`; those between shift by one.",
        parameters=[POSITION],
        request=MoveEntrySerializer,
        responses={200: PlaylistDetailSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path=r"tracks/(?P<position>[0-9]+)/move")
    def move_entry(self, request, pk=None, position=None):
        playlist = self.get_object()
        params = MoveEntrySerializer(data=request.data)
        params.is_valid(raise_exception=True)
        with refusals():
            services.move_entry(playlist, int(position), params.validated_data["to"])
        return self.detail_response(playlist)

    @extend_schema(
        summary="Export as M3U8 or XSPF",
        description="The playlist as a file with absolute stream URLs, for players: for its owner and staff, for "
        "anyone when it is public, and for anyone giving its share token while link sharing is on. The stream "
        "URLs themselves need no token: streams are public on this site.",
        parameters=[ExportQuerySerializer],
        responses={
            (200, formats.M3U8_CONTENT_TYPE): OpenApiResponse(OpenApiTypes.STR, description="Extended M3U, UTF-8."),
            (200, formats.XSPF_CONTENT_TYPE): OpenApiResponse(OpenApiTypes.STR, description="XSPF version 1."),
            **error_responses(400, 404),
        },
    )
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        params = ExportQuerySerializer(data=query_values(request))
        params.is_valid(raise_exception=True)
        playlist = self.get_object()
        kind = params.validated_data["format"]
        body = export_file(playlist, kind, request)
        response = HttpResponse(body, content_type=f"{FILE_TYPES[kind]}; charset=utf-8")
        response["Content-Disposition"] = content_disposition_header(True, f"{safe_file_name(playlist)}.{kind}")
        return response

    def perform_content_negotiation(self, request, force=False):
        # ?format= names the export's file format, not one of DRF's renderers; its
        # refusals are JSON like every other.
        if self.action == "export":
            return JSONRenderer(), JSONRenderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(
        summary="Import an M3U or M3U8 file",
        description="Signed-in users. Makes a playlist of the file's entries matched to tracks: URLs of this site "
        "by id, then file names (stored, uploaded or external), then \"artist - title\" or the title, ignoring "
        "case and accents. unmatched lists the entries no track fits; a file none of whose entries match is "
        "refused (400 nothing_matched), as is one that is not text (400 unreadable_playlist).",
        request={"multipart/form-data": ImportSerializer},
        responses={201: ImportResultSerializer, **error_responses(400, 401, 403), **TOO_LARGE},
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser])
    def import_file(self, request):
        params = ImportSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        with refusals():
            playlist, unmatched = services.import_playlist(
                request.user, params.validated_data["file"], host=request.get_host(),
                name=params.validated_data.get("name", ""),
            )  # fmt: skip
        playlist = visible_playlists(request.user).get(pk=playlist.pk)
        playlist.unmatched = unmatched
        data = ImportResultSerializer(playlist, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


def export_file(playlist, kind, request):
    """The playlist's M3U8 or XSPF text, its URLs absolute for the host `request` came to."""
    tracks = [entry.track for entry in entries_of(playlist)]

    def stream_url(track):
        return request.build_absolute_uri(reverse("catalog:track-audio", args=[track.pk]))

    if kind == "m3u8":
        return formats.to_m3u8(playlist.name, tracks, stream_url)
    return formats.to_xspf(
        playlist, tracks, stream_url,
        page_url=lambda track: request.build_absolute_uri(track.get_absolute_url()),
        playlist_url=request.build_absolute_uri(playlist.get_absolute_url()),
    )  # fmt: skip


def safe_file_name(playlist):
    """The playlist's name as a file name: letters, digits, spaces, dots, dashes and
    underscores only, never empty or hidden."""
    name = " ".join(re.sub(r"[^\w .-]+", "", playlist.name).split()).strip(".")[:100]
    return name or f"playlist-{playlist.pk}"

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from catalog.models import Playlist
from catalog.playlists.selectors import entries_of
from catalog.playlists.services import may_edit
from catalog.serializers import JsonIntegerField, JsonTextField
from recommendations.serializers import TrackSummarySerializer

NAME_LENGTH = Playlist._meta.get_field("name").max_length
LARGEST_ID = 2**63 - 1  # a bigint: larger ids cannot exist, and PostgreSQL refuses them in a query


class JsonBooleanField(serializers.BooleanField):
    """true or false only: DRF would also take "yes", 1 or "on", which the schema calls invalid."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


def track_ids(**kwargs):
    return serializers.ListField(
        child=JsonIntegerField(min_value=1, max_value=LARGEST_ID),
        max_length=settings.MESS_PLAYLIST_MAX_TRACKS,
        **kwargs,
    )


class PlaylistEntrySerializer(serializers.Serializer):
    position = serializers.IntegerField(help_text="From 0, without gaps.")
    track = TrackSummarySerializer()


class ExportLinksSerializer(serializers.Serializer):
    m3u8 = serializers.URLField()
    xspf = serializers.URLField()


class PlaylistSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="playlist-detail")
    page = serializers.SerializerMethodField(help_text="The playlist's page on the site.")
    owner = serializers.CharField(source="owner.get_username", help_text="The owner's user name.")
    track_count = serializers.IntegerField(help_text="Entries, counting a track each time it appears.")
    duration = serializers.FloatField(help_text="Seconds, all entries together.")
    link_sharing = serializers.BooleanField(
        help_text="Whether anyone with the shared export links (see shared_export) may read it."
    )

    class Meta:
        model = Playlist
        fields = [
            "id", "url", "page", "name", "description", "public", "owner", "track_count", "duration",
            "link_sharing", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_page(self, playlist):
        return self.context["request"].build_absolute_uri(playlist.get_absolute_url())


class PlaylistDetailSerializer(PlaylistSerializer):
    entries = serializers.SerializerMethodField(help_text="In order.")
    export = serializers.SerializerMethodField(
        help_text="The playlist as M3U8 and XSPF files (absolute stream URLs), for those who may read it."
    )
    shared_export = serializers.SerializerMethodField(
        help_text="For the owner and staff while link sharing is on: export links carrying the share token, which "
        "anyone (a player, a friend) may open; null otherwise."
    )

    class Meta(PlaylistSerializer.Meta):
        fields = [*PlaylistSerializer.Meta.fields, "entries", "export", "shared_export"]
        read_only_fields = fields

    @extend_schema_field(PlaylistEntrySerializer(many=True))
    def get_entries(self, playlist):
        return PlaylistEntrySerializer(entries_of(playlist), many=True, context=self.context).data

    @extend_schema_field(ExportLinksSerializer)
    def get_export(self, playlist):
        return export_links(playlist, self.context["request"])

    @extend_schema_field(ExportLinksSerializer(allow_null=True))
    def get_shared_export(self, playlist):
        request = self.context["request"]
        if not playlist.link_sharing or not may_edit(request.user, playlist):
            return None
        return export_links(playlist, request, token=playlist.share_token)


def export_links(playlist, request, token=None):
    """{"m3u8": url, "xspf": url}: absolute export URLs, with the share token when given."""
    base = reverse("playlist-export", args=[playlist.pk], request=request)
    suffix = f"&token={token}" if token else ""
    return {kind: f"{base}?format={kind}{suffix}" for kind in ("m3u8", "xspf")}


class PlaylistCreateSerializer(serializers.Serializer):
    name = JsonTextField(max_length=NAME_LENGTH)
    description = JsonTextField(default="", allow_blank=True)
    public = JsonBooleanField(default=False, help_text="Listed for, and readable by, everyone; private by default.")
    tracks = track_ids(
        default=list,
        help_text="Track ids in order, e.g. saved from similar results, a radio session, a path or a map "
        "selection; a track may appear more than once.",
    )


class PlaylistUpdateSerializer(serializers.Serializer):
    name = JsonTextField(required=False, max_length=NAME_LENGTH)
    description = JsonTextField(required=False, allow_blank=True)
    public = JsonBooleanField(required=False)
    link_sharing = JsonBooleanField(
        required=False, help_text="On: a new share token (unless it is on already); off: the shared links stop working."
    )
    tracks = track_ids(required=False, help_text="The whole new order of track ids.")


class AddTracksSerializer(serializers.Serializer):
    tracks = track_ids(min_length=1, help_text="Track ids to insert, in order.")
    position = JsonIntegerField(
        required=False, min_value=0, help_text="Where the first goes, 0 to the playlist's length; the end by default."
    )


class MoveEntrySerializer(serializers.Serializer):
    to = JsonIntegerField(min_value=0, help_text="The entry's new position; those between shift by one.")


class ExportQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["m3u8", "xspf"], help_text="M3U8 (extended M3U, UTF-8) or XSPF.")
    token = serializers.CharField(
        required=False, max_length=64, help_text="The share token, for a private playlist whose link sharing is on."
    )


class ImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="An M3U or M3U8 playlist (UTF-8, or Windows-1252 for old .m3u files), at most "
        "MESS_PLAYLIST_MAX_IMPORT_BYTES."
    )
    name = serializers.CharField(
        required=False, allow_blank=True, max_length=NAME_LENGTH,
        help_text="The new playlist's name; by default the file's #PLAYLIST name, else the file's name.",
    )


class ImportResultSerializer(PlaylistDetailSerializer):
    unmatched = serializers.ListField(
        child=serializers.CharField(), help_text="The location lines of the file's entries that no track fits."
    )

    class Meta(PlaylistDetailSerializer.Meta):
        fields = [*PlaylistDetailSerializer.Meta.fields, "unmatched"]
        read_only_fields = fields

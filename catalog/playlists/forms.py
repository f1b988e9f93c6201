"""The playlist pages' forms; what they clean goes straight to services.py."""

import re

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from catalog.models import Playlist


class TrackIdsField(forms.CharField):
    """Track ids typed or carried over from another page, separated by commas or spaces."""

    def to_python(self, value):
        text = super().to_python(value)
        parts = [part for part in re.split(r"[\s,]+", text) if part]
        bad = [part for part in parts if not part.isdigit() or not 0 < int(part) < 2**63]
        if bad:
            raise ValidationError(f"Track ids are whole numbers from 1; these are not: {', '.join(bad[:10])}.")
        if len(parts) > settings.MESS_PLAYLIST_MAX_TRACKS:
            raise ValidationError(f"At most {settings.MESS_PLAYLIST_MAX_TRACKS} tracks (MESS_PLAYLIST_MAX_TRACKS).")
        return [int(part) for part in parts]


class PlaylistDetailsForm(forms.ModelForm):
    class Meta:
        model = Playlist
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}


class PlaylistCreateForm(PlaylistDetailsForm):
    tracks = TrackIdsField(
        label="Track ids", required=False, help_text="Optional: ids of tracks to start with, separated by commas."
    )

    class Meta(PlaylistDetailsForm.Meta):
        fields = ["name", "description", "public"]


class AddTracksForm(forms.Form):
    tracks = TrackIdsField(label="Track ids", help_text="Separated by commas; added at the end, in this order.")


class PositionForm(forms.Form):
    position = forms.IntegerField(min_value=0)


class MoveForm(PositionForm):
    to = forms.IntegerField(min_value=0)


class SwitchForm(forms.Form):
    """On or off: a hidden "on" field set to "true" or "false" by the button pressed."""

    on = forms.TypedChoiceField(choices=[("true", "on"), ("false", "off")], coerce=lambda value: value == "true")


class ImportForm(forms.Form):
    file = forms.FileField(label="M3U or M3U8 file", widget=forms.ClearableFileInput(attrs={"accept": ".m3u,.m3u8"}))
    name = forms.CharField(
        label="Name", required=False, max_length=Playlist._meta.get_field("name").max_length,
        help_text="Optional: by default the file's own playlist name, else its file name.",
    )  # fmt: skip

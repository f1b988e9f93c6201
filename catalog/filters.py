import django_filters
from django import forms

from analysis.services import active_space
from analysis.tags import known_tags, tagged
from catalog.audio import ACCEPTED_FORMATS
from catalog.composers import UnknownComposer, match_composers
from catalog.forms import TagsField, tag_choices
from catalog.models import Dataset, Track


class TagFilter(django_filters.MultipleChoiceFilter):
    field_class = TagsField


class ComposerField(forms.CharField):
    """Cleans to the catalogued names the text matches (catalog/composers.py)."""

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return value
        try:
            return match_composers(value)
        except UnknownComposer as exc:
            raise forms.ValidationError(str(exc), code="unknown_composer") from exc


class ComposerFilter(django_filters.CharFilter):
    field_class = ComposerField

    def filter(self, tracks, names):
        return tracks.filter(composer__in=names) if names else tracks


def active_tag_choices():
    """Read when a tag is given, not on every request."""
    return tag_choices(known_tags(active_space()))


class TrackFilter(django_filters.FilterSet):
    # Unknown slugs and values are a 400 naming the field, not a silently empty page.
    dataset = django_filters.ModelChoiceFilter(
        to_field_name="slug", queryset=Dataset.objects.all(), help_text="Dataset slug."
    )
    composer = ComposerFilter(
        help_text="A composer as people type it: any case, accents optional, a part of the name (bach, j s bach, "
        "dvorak); an ambiguous part matches every composer it fits. No match is a 400 suggesting close names."
    )
    status = django_filters.ChoiceFilter(choices=Track.Status.choices)
    # Not "format": DRF reserves ?format= to pick the response renderer (json, api).
    audio_format = django_filters.ChoiceFilter(
        field_name="format", choices=[(name, name) for name in ACCEPTED_FORMATS], help_text="Audio file format."
    )
    tag = TagFilter(
        choices=active_tag_choices,
        method="filter_tags",
        help_text="A tag of the active embedding space (musicnn's auto-tags); repeat it or separate tags by commas: "
        "a track must carry every one. An unknown tag is a 400.",
    )

    class Meta:
        model = Track
        fields = ["dataset", "composer", "status", "audio_format", "tag"]

    def filter_tags(self, tracks, name, value: str):  # the hint (on `value`) types each tag in the schema
        return tagged(tracks, active_space(), value)

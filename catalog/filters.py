import django_filters

from analysis.services import active_space
from analysis.tags import known_tags, tagged
from catalog.audio import ACCEPTED_FORMATS
from catalog.forms import TagsField, tag_choices
from catalog.models import Dataset, Track


class TagFilter(django_filters.MultipleChoiceFilter):
    field_class = TagsField


def active_tag_choices():
    """Read when a tag is given, not on every request."""
    return tag_choices(known_tags(active_space()))


class TrackFilter(django_filters.FilterSet):
    # Unknown slugs and values are a 400 naming the field, not a silently empty page.
    dataset = django_filters.ModelChoiceFilter(
        to_field_name="slug", queryset=Dataset.objects.all(), help_text="Dataset slug."
    )
    composer = django_filters.CharFilter(lookup_expr="iexact", help_text="Exact name, any case.")
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

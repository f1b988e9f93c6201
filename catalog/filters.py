import django_filters

from catalog.audio import ACCEPTED_FORMATS
from catalog.models import Dataset, Track


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

    class Meta:
        model = Track
        fields = ["dataset", "composer", "status", "audio_format"]

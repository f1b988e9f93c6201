"""Listener pages over similarity: search by clip and the embedding map."""

from django import forms
from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse
from django.views.generic import TemplateView

from analysis.services import active_space
from analysis.tags import known_tags
from catalog.audio import AUDIO_SUFFIXES
from messsite.pages import url_template
from recommendations.projection import (
    BOX_HEIGHT, BOX_WIDTH, COLOUR_BY, MIN_TRACKS, default_layer, has_instruments, layer_projection, map_points,
)


def clip_search_config():
    """What the search-by-clip script needs: the API it talks to and the clip limits it
    enforces before uploading (the server checks them again)."""
    return {
        "searchUrl": reverse("clip-search"),
        "aspectsUrl": reverse("aspects"),
        "trackPageUrl": url_template("catalog:track-detail"),
        # The recorder's AudioWorklet processor lives in the page script itself.
        "workletUrl": static("recommendations/clip_search.js"),
        "maxSeconds": settings.MESS_CLIP_MAX_SECONDS,
        "minSeconds": settings.MESS_MIN_DURATION_SECONDS,
    }


class ClipSearchPageView(TemplateView):
    template_name = "recommendations/clip_search.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            clip_config=clip_search_config(),
            accepted_suffixes=",".join(sorted(AUDIO_SUFFIXES)),
            **kwargs,
        )


class MapForm(forms.Form):
    layer = forms.TypedChoiceField(coerce=int, label="Layer")
    colour = forms.ChoiceField(choices=list(COLOUR_BY.items()), label="Colour by")

    def __init__(self, space, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["layer"].choices = list(enumerate(space.layer_labels()))
        if not known_tags(space):  # an encoder without tags (MERT, classic)
            self.fields["colour"].choices = [(key, label) for key, label in COLOUR_BY.items() if key != "tag"]


class EmbeddingMapView(TemplateView):
    template_name = "recommendations/map.html"

    def get_context_data(self, **kwargs):
        space = active_space()
        context = super().get_context_data(active_space=space, **kwargs)
        if space is None:
            return context
        # Always bound, so the controls show what is drawn; a missing choice takes its default.
        data = self.request.GET.dict()
        if "colour" not in data:  # the demo's instruments first, where the tracks name them
            data["colour"] = "instrument" if has_instruments(space) else "composer"
        if "layer" not in data:
            data["layer"] = default_layer(space)
        form = MapForm(space, data)
        context["form"] = form
        if not form.is_valid():
            return context
        layer, colour_by = form.cleaned_data["layer"], form.cleaned_data["colour"]
        projection = layer_projection(space, layer)
        context.update(
            layer_label=space.layer_label(layer), colour_label=COLOUR_BY[colour_by], projection=projection,
            track_count=len(projection.track_ids), min_tracks=MIN_TRACKS, box_width=BOX_WIDTH, box_height=BOX_HEIGHT,
            pc1=projection.explained[0] * 100, pc2=projection.explained[1] * 100,
        )
        if len(projection.track_ids) >= MIN_TRACKS:
            context["points"], context["legend"], context["labels"] = map_points(projection, colour_by, space)
        return context

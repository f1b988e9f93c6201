"""Listener pages over similarity: search by clip and the embedding map."""

from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse
from django.views.generic import TemplateView

from catalog.audio import AUDIO_SUFFIXES

# Stands for "any pk" in URL templates handed to page scripts; no real pk is this large.
_PK_SENTINEL = 2**31 - 1


def url_template(name):
    """The path of URL `name` with "{pk}" where the pk goes, for a script to fill in."""
    return reverse(name, args=[_PK_SENTINEL]).replace(str(_PK_SENTINEL), "{pk}")


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


class EmbeddingMapView(TemplateView):
    template_name = "recommendations/map.html"

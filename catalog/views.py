from django.urls import reverse
from django.views.generic import DetailView, ListView, TemplateView

from catalog.forms import TrackSearchForm
from catalog.models import Track
from catalog.selectors import search_tracks


class TrackListView(ListView):
    paginate_by = 25
    template_name = "catalog/track_list.html"

    def get_queryset(self):
        self.form = TrackSearchForm(self.request.GET)
        # A bad filter (say, a dataset deleted since the link was made) shows its error
        # and is ignored; cleaned_data still holds the valid ones.
        self.form.is_valid()
        data = self.form.cleaned_data
        return search_tracks(
            data.get("q", ""), dataset=data.get("dataset"), composer=data.get("composer"), status=data.get("status")
        )

    def get_context_data(self, **kwargs):
        return super().get_context_data(form=self.form, **kwargs)


class TrackDetailView(DetailView):
    queryset = Track.objects.select_related("dataset")
    template_name = "catalog/track_detail.html"

    def get_context_data(self, **kwargs):
        track = self.object
        return super().get_context_data(
            track_page=track_page_data(track),
            default_passage_end=min(DEFAULT_PASSAGE_SECONDS, track.duration),
            **kwargs,
        )


DEFAULT_PASSAGE_SECONDS = 5.0  # one analysis window of the default MERT settings


def track_page_data(track):
    """What the track page's script needs: the track and the URLs it calls."""
    return {
        "id": track.pk,
        "title": track.title,
        "duration": track.duration,
        "urls": {
            "peaks": reverse("catalog:track-peaks", args=[track.pk]),
            "aspects": reverse("aspects"),
            "similar": reverse("track-similar", args=[track.pk]),
            "passages": reverse("track-passages", args=[track.pk]),
            # Result links: the page of track {id}.
            "trackPage": reverse("catalog:track-detail", args=[0]).replace("/0/", "/{id}/"),
        },
    }


class UploadPageView(TemplateView):
    template_name = "catalog/upload.html"

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
        return search_tracks(data.get("q", ""), dataset=data.get("dataset"), status=data.get("status"))

    def get_context_data(self, **kwargs):
        return super().get_context_data(form=self.form, **kwargs)


class TrackDetailView(DetailView):
    queryset = Track.objects.select_related("dataset")
    template_name = "catalog/track_detail.html"


class UploadPageView(TemplateView):
    template_name = "catalog/upload.html"

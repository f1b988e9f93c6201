from django.views.generic import DetailView, ListView

from catalog.models import Track


class TrackListView(ListView):
    model = Track


class TrackDetailView(DetailView):
    model = Track

from rest_framework import viewsets

from catalog.models import Dataset, Track


class DatasetViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Dataset.objects.all()


class TrackViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Track.objects.all()

"""Pages over analysis: which layer encodes what (probe runs), and the jobs at work."""

from django.views.generic import TemplateView


class LayerDiscoveryView(TemplateView):
    template_name = "analysis/layers.html"


class JobsView(TemplateView):
    template_name = "analysis/jobs.html"

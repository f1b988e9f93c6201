from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import DetailView, ListView, TemplateView

from analysis.services import active_space
from analysis.tags import assigned_scores, known_tags, ranked, tag_counts, tag_scores, tagged, track_tags, with_tags
from catalog.audio import human_size
from catalog.duplicates import can_decide_duplicates, duplicates_of
from catalog.forms import TrackMetadataForm, TrackSearchForm, TrackUploadForm, dataset_named
from catalog.models import Dataset, Track
from catalog.selectors import parse_sort, search_tracks, sorted_tracks
from messsite.api_errors import json_error
from messsite.pages import url_template


TAGS_PER_ROW = 3  # the catalogue's tag column: a track's best few, not all of them
SORT_LABELS = {  # the catalogue's sortable columns, in the table's order
    "title": "Title", "composer": "Composer", "work": "Work", "dataset": "Dataset",
    "duration": "Duration", "year": "Year", "added": "Added",
}


class TrackListView(ListView):
    paginate_by = 25
    template_name = "catalog/track_list.html"

    def get_queryset(self):
        self.space = active_space()
        self.form = TrackSearchForm(self.request.GET, tags=known_tags(self.space))
        # A bad filter (say, a dataset deleted since the link was made) shows its error
        # and is ignored; cleaned_data still holds the valid ones.
        self.form.is_valid()
        data = self.form.cleaned_data
        tracks = search_tracks(
            data.get("q", ""), dataset=data.get("dataset"), composer=data.get("composer"), status=data.get("status")
        )
        if data.get("tag"):
            tracks = tagged(tracks, self.space, data["tag"])
        # An unknown sort is ignored: the default order, as if none were asked for.
        self.sort = parse_sort(self.request.GET.get("sort"))
        return with_tags(sorted_tracks(tracks, self.sort), self.space)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(
            form=self.form, tag_facets=self.tag_facets(), sort_links=self.sort_links(), **kwargs
        )
        context["rows"] = [
            {
                "track": track,
                "instrument": track.metadata.get("instrument", ""),
                "tags": [(tag, with_tag(self.request.GET, tag)) for tag, _ in tag_scores(track)[:TAGS_PER_ROW]],
            }
            for track in context["object_list"]
        ]
        context["show_tags"] = "tag" in self.form.fields  # the active space has tags
        context["show_instrument"] = any(row["instrument"] for row in context["rows"])
        return context

    def sort_links(self):
        """The sortable columns' headers in order: [{"label", "sort": the ?sort= value its
        link asks for, "current": "ascending"/"descending"/None}]; a sorted column's link
        flips its direction."""
        links = []
        for key, label in SORT_LABELS.items():
            current = None
            if self.sort and self.sort[0] == key:
                current = "descending" if self.sort[1] else "ascending"
            links.append({"label": label, "sort": f"-{key}" if current == "ascending" else key, "current": current})
        return links

    def tag_facets(self):
        """The tags of the results (all pages) not chosen yet, most common first, each with
        the link that narrows the results to it."""
        if "tag" not in self.form.fields:  # the active space has no tags
            return []
        chosen = self.form.cleaned_data.get("tag", [])
        return [
            {**facet, "url": with_tag(self.request.GET, facet["tag"])}
            for facet in tag_counts(self.object_list, self.space)
            if facet["tag"] not in chosen
        ]


def with_tag(params, tag):
    """The catalogue's query string `params` (a QueryDict) narrowed to `tag` too, from page 1."""
    params = params.copy()
    params.pop("page", None)
    params.appendlist("tag", tag)
    return f"?{params.urlencode()}"


class TrackDetailView(DetailView):
    """The track page; curators (change_track) also get a form to edit its descriptive
    fields, posted back here."""

    queryset = Track.objects.select_related("dataset")
    template_name = "catalog/track_detail.html"

    def post(self, request, *args, **kwargs):
        if not request.user.has_perm("catalog.change_track"):
            raise PermissionDenied
        self.object = self.get_object()
        # Its own copy: a refused form must not change what the rest of the page shows.
        form = TrackMetadataForm(request.POST, instance=self.get_object(), auto_id=EDIT_FORM_IDS)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(edit_form=form), status=400)
        form.save()
        messages.success(request, "The track's details are saved.")
        return redirect(self.object)

    def get_context_data(self, edit_form=None, **kwargs):
        track, space = self.object, active_space()
        tag_set = track_tags(track, space)
        if edit_form is None and self.request.user.has_perm("catalog.change_track"):
            edit_form = TrackMetadataForm(instance=track, auto_id=EDIT_FORM_IDS)
        return super().get_context_data(
            edit_form=edit_form,
            track_page=track_page_data(track),
            tags=assigned_scores(tag_set) if tag_set else None,
            top_scores=ranked(tag_set.scores)[:TOP_SCORES_SHOWN] if tag_set else [],
            default_passage_end=min(DEFAULT_PASSAGE_SECONDS, track.duration),
            active_space=space,  # the header's too: one query, not the context processor's second
            layer_labels=space.layer_labels() if space else [],
            duplicate_pairs=duplicates_of(track) if can_decide_duplicates(self.request.user) else [],
            **kwargs,
        )


EDIT_FORM_IDS = "edit-%s"  # apart from the ids of the page's other controls
DEFAULT_PASSAGE_SECONDS = 5.0  # one analysis window of the default MERT settings
TOP_SCORES_SHOWN = 10  # of every tag's score, in the track page's details


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
            "trackPage": url_template("catalog:track-detail"),
            "tracks": reverse("track-list"),  # the search for a path's destination
            "radio": reverse("radio"),
            "paths": reverse("paths"),
        },
    }


def upload_settings_form():
    """The admin upload form's dataset and descriptive fields (same labels, help and
    limits), datasets by slug as the tracks API takes them; the page's drop zone takes
    the files."""
    form = TrackUploadForm(auto_id="upload-%s")
    form.fields["dataset"].to_field_name = "slug"
    return form


def upload_page_config():
    """What the upload script needs: the URLs it calls and the size limit it checks before
    sending a file (the server checks it again)."""
    return {
        "datasetUrl": reverse("catalog:upload"),
        "uploadUrl": reverse("track-list"),
        "trackApiUrl": url_template("track-detail"),
        "trackPageUrl": url_template("catalog:track-detail"),
        "maxBytes": settings.MESS_MAX_UPLOAD_BYTES,
        "maxSize": human_size(settings.MESS_MAX_UPLOAD_BYTES),
    }


# Required here, unlike the upload form's, where naming an existing dataset is the other option.
NEW_DATASET_NAME = forms.CharField(max_length=Dataset._meta.get_field("name").max_length)


class UploadPageView(PermissionRequiredMixin, TemplateView):
    """Curators drop many files; the page's script sends each to the tracks API (two at a
    time) and follows it until its extraction is done. POST name=...: the dataset of that
    name (any case), created if missing, for the script to upload into."""

    permission_required = "catalog.add_track"
    template_name = "catalog/upload.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            form=upload_settings_form(),
            can_create_dataset=self.request.user.has_perm("catalog.add_dataset"),
            upload_config=upload_page_config(),
            **kwargs,
        )

    def post(self, request):
        if not request.user.has_perm("catalog.add_dataset"):
            return json_error(403, "permission_denied", "You may add tracks to existing datasets but not create one.")
        try:
            name = NEW_DATASET_NAME.clean(request.POST.get("name", ""))
        except ValidationError as exc:
            return json_error(400, "invalid", f"Dataset name: {' '.join(exc.messages)}")
        dataset = dataset_named(name)
        return JsonResponse({"id": dataset.pk, "name": dataset.name, "slug": dataset.slug})

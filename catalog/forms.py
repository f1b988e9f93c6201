"""Forms: the curators' multi-file upload, the admin and track page edits, the catalogue search."""

from dataclasses import dataclass

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import slugify

from catalog import intake
from catalog.audio import AudioRejected
from catalog.models import DESCRIPTIVE_FIELDS, Dataset, Track


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file field that takes several files at once and cleans to a list of them."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = [f for f in (data if isinstance(data, (list, tuple)) else [data]) if f]
        if not files and self.required:
            raise ValidationError(self.error_messages["required"], code="required")
        clean_one = super().clean
        return [clean_one(f, initial) for f in files]


@dataclass(frozen=True)
class UploadOutcome:
    file_name: str
    result: str  # "imported", "duplicate" or "rejected"
    track: Track | None = None  # the new track, or the existing one for a duplicate
    reason: str = ""


class TrackUploadForm(forms.Form):
    dataset = forms.ModelChoiceField(Dataset.objects.all(), required=False, help_text="Add the files to this dataset…")
    new_dataset = forms.CharField(
        label="…or to a dataset named",
        max_length=Dataset._meta.get_field("name").max_length,
        required=False,
        help_text="Created if no dataset has this name yet.",
    )
    # From the model, so lengths and optionality cannot drift from the columns.
    composer = Track._meta.get_field("composer").formfield(help_text="Applied to every file; optional.")
    work = Track._meta.get_field("work").formfield(help_text="Applied to every file; optional.")
    performer = Track._meta.get_field("performer").formfield(help_text="Applied to every file; optional.")
    # Empty files are let through so intake rejects them one by one, instead of the
    # whole form refusing every file because of one.
    files = MultipleFileField(
        label="Audio files",
        allow_empty_file=True,
        widget=MultipleFileInput(attrs={"accept": "audio/*"}),
        help_text="Select as many files as you like; each one is checked and imported on its own.",
    )

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("dataset")) == bool(cleaned.get("new_dataset")):
            raise ValidationError("Choose an existing dataset or name a new one (one of the two).")
        return cleaned

    def save(self):
        """Ingest every file independently; one outcome per file, in the order given."""
        data = self.cleaned_data
        dataset = data["dataset"] or dataset_named(data["new_dataset"])
        # Blank fields are left out so intake applies its defaults (title from the file name).
        fields = {name: data[name] for name in ("composer", "work", "performer") if data[name]}
        return [ingest(dataset, uploaded, fields) for uploaded in data["files"]]


def ingest(dataset, uploaded, fields):
    try:
        track = intake.ingest_upload(dataset, uploaded, **fields)
    except intake.DuplicateTrack as exc:
        return UploadOutcome(uploaded.name, "duplicate", track=exc.existing, reason=str(exc))
    except AudioRejected as exc:
        return UploadOutcome(uploaded.name, "rejected", reason=exc.message)
    return UploadOutcome(uploaded.name, "imported", track=track)


def dataset_named(name):
    """The dataset called `name` (in any case), created as an upload dataset if missing.
    Reusing it means resubmitting the form after every file was rejected still works."""
    existing = Dataset.objects.filter(name__iexact=name).first()
    if existing:
        return existing
    base = slugify(name)[:90] or "dataset"
    slug, n = base, 1
    while Dataset.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return Dataset.objects.create(name=name, slug=slug, source_kind=Dataset.SourceKind.UPLOAD)


class TrackAdminForm(forms.ModelForm):
    class Meta:
        model = Track
        fields = "__all__"

    def clean(self):
        # sha256 is read-only in the admin, so the model's (dataset, sha256) uniqueness is
        # not checked by the form; moving a track onto its twin would otherwise crash.
        cleaned = super().clean()
        dataset = cleaned.get("dataset")
        twins = Track.objects.filter(dataset=dataset, sha256=self.instance.sha256).exclude(pk=self.instance.pk)
        if dataset and twins.exists():
            self.add_error("dataset", f"{dataset} already holds a track with the same audio: {twins.first()}.")
        return cleaned


class TrackMetadataForm(forms.ModelForm):
    """The track page's edit form for curators: the fields the API's PATCH takes."""

    class Meta:
        model = Track
        fields = DESCRIPTIVE_FIELDS


class TagsField(forms.MultipleChoiceField):
    """Tag names, repeated (tag=piano&tag=strings) or comma-separated (tag=piano,strings),
    each one of `choices` (the active space's tags)."""

    default_error_messages = {"invalid_choice": "%(value)s is not a tag of the active embedding space."}

    def to_python(self, value):
        names = (name.strip() for item in super().to_python(value) for name in item.split(","))
        return list(dict.fromkeys(name for name in names if name))


def tag_choices(tags):
    return [(tag, tag) for tag in tags]


class TrackSearchForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        widget=forms.SearchInput(attrs={"placeholder": "Title, composer or work"}),
    )
    dataset = forms.ModelChoiceField(
        Dataset.objects.all(), to_field_name="slug", required=False, empty_label="All datasets"
    )
    composer = forms.ChoiceField(required=False)
    status = forms.ChoiceField(choices=[("", "Any status"), *Track.Status.choices], required=False)
    tag = TagsField(
        label="Tags",
        required=False,
        help_text="Tracks with every tag chosen.",
        widget=forms.SelectMultiple(attrs={"size": 4}),
    )

    def __init__(self, *args, tags=(), **kwargs):
        """`tags`: those of the active space; without any (an encoder without tags) there is
        no tag filter."""
        super().__init__(*args, **kwargs)
        composers = Track.objects.exclude(composer="").order_by("composer").values_list("composer", flat=True)
        self.fields["composer"].choices = [("", "All composers"), *((c, c) for c in composers.distinct())]
        if tags:
            self.fields["tag"].choices = tag_choices(tags)
        else:
            del self.fields["tag"]

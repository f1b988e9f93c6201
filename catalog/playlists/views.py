"""The playlist pages: /playlists/ (the user's own and the public ones, create, import) and
/playlists/<id>/ (entries, editing, sharing, export). Every edit is a plain form POST to a
small view over one service function, then back to the page with a message."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from catalog.playlists import services
from catalog.playlists.forms import (
    AddTracksForm,
    ImportForm,
    MoveForm,
    PlaylistCreateForm,
    PlaylistDetailsForm,
    PositionForm,
    SwitchForm,
)
from catalog.playlists.selectors import entries_of, listed_playlists, visible_playlists
from catalog.playlists.serializers import export_links

PER_PAGE = 25
CREATE_IDS = "create-%s"  # the create and import forms share a page and field names, not ids


def playlist_list(request):
    """GET: the list and the forms; POST: create (signed-in users)."""
    create_form = None
    if request.method == "POST":
        if not request.user.is_authenticated:
            raise PermissionDenied
        create_form = PlaylistCreateForm(request.POST, auto_id=CREATE_IDS)
        if create_form.is_valid():
            data = create_form.cleaned_data
            try:
                playlist = services.create_playlist(
                    request.user, name=data["name"], description=data["description"], public=data["public"],
                    tracks=data["tracks"],
                )  # fmt: skip
            except services.PlaylistError as exc:
                create_form.add_error("tracks", exc.message)
            else:
                messages.success(request, f"Playlist “{playlist.name}” created.")
                return redirect(playlist)
    # ?tracks=1,2,3: another page's selection (similar results, radio, a path, the map) to save.
    if create_form is None:
        create_form = PlaylistCreateForm(initial={"tracks": request.GET.get("tracks", "")}, auto_id=CREATE_IDS)
    page = Paginator(listed_playlists(request.user), PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "catalog/playlists/list.html", {
        "page_obj": page, "create_form": create_form, "import_form": ImportForm(auto_id="import-%s"),
    }, status=400 if request.method == "POST" else 200)  # fmt: skip


@login_required
@require_POST
def import_playlist(request):
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, " ".join(message for errors in form.errors.values() for message in errors))
        return redirect("playlists:list")
    try:
        playlist, unmatched = services.import_playlist(
            request.user, form.cleaned_data["file"], host=request.get_host(), name=form.cleaned_data["name"]
        )
    except services.PlaylistError as exc:
        messages.error(request, exc.message)
        return redirect("playlists:list")
    messages.success(request, f"Imported “{playlist.name}”.")
    if unmatched:
        messages.warning(
            request, f"{len(unmatched)} entr{'y' if len(unmatched) == 1 else 'ies'} matched no track and "
            f"{'was' if len(unmatched) == 1 else 'were'} left out: {'; '.join(unmatched[:10])}"
            + (" …" if len(unmatched) > 10 else ""),
        )  # fmt: skip
    return redirect(playlist)


def playlist_detail(request, pk):
    """GET: the playlist; POST: its name and description (owner or staff)."""
    playlist = get_object_or_404(visible_playlists(request.user), pk=pk)
    editable = services.may_edit(request.user, playlist)
    details_form = PlaylistDetailsForm(instance=playlist)
    if request.method == "POST":
        if not editable:
            raise PermissionDenied
        # Without the instance: a refused name must not change the rest of the page.
        details_form = PlaylistDetailsForm(request.POST)
        if details_form.is_valid():
            services.update_playlist(playlist, **details_form.cleaned_data)
            messages.success(request, "Name and description saved.")
            return redirect(playlist)
    return render(request, "catalog/playlists/detail.html", {
        "playlist": playlist, "entries": entries_of(playlist), "editable": editable,
        "details_form": details_form, "add_form": AddTracksForm(),
        "export": export_links(playlist, request),
        "shared_export": (
            export_links(playlist, request, token=playlist.share_token) if editable and playlist.link_sharing else None
        ),
    }, status=400 if request.method == "POST" else 200)  # fmt: skip


def playlist_edit(form_class):
    """A POST-only page over one edit: the playlist its user may change, `form_class`'s
    cleaned data as keyword arguments; back to the playlist's page with the message the
    edit returns, or the reason it was refused."""

    def decorate(edit):
        @login_required
        @require_POST
        @wraps(edit)
        def view(request, pk):
            playlist = get_object_or_404(visible_playlists(request.user), pk=pk)
            if not services.may_edit(request.user, playlist):
                raise PermissionDenied
            form = form_class(request.POST)
            if not form.is_valid():
                messages.error(request, " ".join(message for errors in form.errors.values() for message in errors))
                return redirect(playlist)
            try:
                messages.success(request, edit(playlist, **form.cleaned_data))
            except services.PlaylistError as exc:
                messages.error(request, exc.message)
            return redirect(playlist)

        return view

    return decorate


@playlist_edit(AddTracksForm)
def add_tracks(playlist, tracks):
    services.add_tracks(playlist, tracks)
    return f"Added {len(tracks)} track{'s' if len(tracks) != 1 else ''}."


@playlist_edit(PositionForm)
def remove_entry(playlist, position):
    services.remove_entry(playlist, position)
    return f"Removed entry {position + 1}."


@playlist_edit(MoveForm)
def move_entry(playlist, position, to):
    services.move_entry(playlist, position, to)
    return f"Moved entry {position + 1} to place {to + 1}."


@playlist_edit(SwitchForm)
def set_public(playlist, on):
    services.update_playlist(playlist, public=on)
    return "The playlist is public: listed for everyone." if on else "The playlist is private."


@playlist_edit(SwitchForm)
def set_link_sharing(playlist, on):
    services.set_link_sharing(playlist, on)
    return "Link sharing is on: anyone with the links below can open the playlist." if on else (
        "Link sharing is off: the links handed out no longer work."
    )


@login_required
@require_POST
def delete_playlist(request, pk):
    playlist = get_object_or_404(visible_playlists(request.user), pk=pk)
    if not services.may_edit(request.user, playlist):
        raise PermissionDenied
    services.delete_playlist(playlist)
    messages.success(request, f"Playlist “{playlist.name}” deleted.")
    return redirect("playlists:list")

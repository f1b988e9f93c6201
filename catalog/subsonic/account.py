"""The account page's API keys: what a player signs in with (OpenSubsonic apiKey).

GET lists the user's keys (name, first characters, made, last used) with the address to
give a player; POST makes a key and shows it once; revoking is a POST per key."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from catalog.subsonic.keys import KeyRefused, create_key, revoke_key


class KeyForm(forms.Form):
    name = forms.CharField(max_length=100, label="Player or device", help_text="e.g. “Feishin on my laptop”.")


@login_required
def api_keys(request):
    form, new_key = KeyForm(request.POST or None), None
    if form.is_valid():
        try:
            api_key, new_key = create_key(request.user, form.cleaned_data["name"])
        except KeyRefused as exc:
            form.add_error("name", str(exc))
        else:
            form = KeyForm()
            messages.success(request, f"Key “{api_key.name}” made. Copy it now: it is not shown again.")
    return render(request, "catalog/api_keys.html", {
        "form": form, "new_key": new_key, "keys": request.user.api_keys.all(),
        "server_url": request.build_absolute_uri("/"),
        "rest_url": request.build_absolute_uri(reverse("subsonic", args=["ping"])),
    }, status=400 if request.method == "POST" and new_key is None else 200)  # fmt: skip


@login_required
@require_POST
def revoke(request, pk):
    if revoke_key(request.user, pk):
        messages.success(request, "Key revoked: players using it are signed out.")
    else:
        messages.error(request, "No such key of yours (revoked already?).")
    return redirect("subsonic-keys")

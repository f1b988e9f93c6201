"""Helpers shared by the HTML pages' views."""

from django.urls import reverse

# Stands for "any pk" in URL templates handed to page scripts; no real pk is this large.
_PK_SENTINEL = 2**31 - 1


def url_template(name):
    """The path of URL `name` with "{pk}" where the pk goes, for a script to fill in."""
    return reverse(name, args=[_PK_SENTINEL]).replace(str(_PK_SENTINEL), "{pk}")

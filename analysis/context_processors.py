"""Every page says which embedding space (and so which encoder) its similarities come from."""

from django.utils.functional import SimpleLazyObject

from analysis.services import active_space as current_space


def active_space(request):
    # Lazy: pages that never show it (the admin, API docs) cost no query.
    return {"active_space": SimpleLazyObject(current_space)}

import re

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """The API's paging: ?page=N, and ?page_size= up to 200 for clients that page less.

    Both are whole numbers from 1, given once: anything else is a 400 naming the parameter
    (DRF would page from 1 or at the default size instead, or answer 404 for ?page=0). A
    page past the last is a 404."""

    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_number(self, request, paginator):
        return _whole_number(request, self.page_query_param, default=1)

    def get_page_size(self, request):
        return min(_whole_number(request, self.page_size_query_param, default=self.page_size), self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"Results per page: {self.page_size} unless given, at most {self.max_page_size} (more reads as "
                    f"{self.max_page_size})."
                )
        return parameters


def _whole_number(request, name, default):
    values = request.query_params.getlist(name)
    if not values:
        return default
    if len(values) > 1:
        raise ValidationError({name: [f"Give {name} once, not {len(values)} times."]})
    if not re.fullmatch(r"[0-9]+", values[0]) or int(values[0]) < 1:
        raise ValidationError({name: [f"{name} is a whole number from 1, not {values[0]!r}."]})
    return int(values[0])

from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """The API's paging: ?page=N, and ?page_size= up to 200 for clients that page less."""

    page_size_query_param = "page_size"
    max_page_size = 200

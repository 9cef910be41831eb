"""The pagination of every API list (settings REST_FRAMEWORK DEFAULT_PAGINATION_CLASS). Imports nothing of
DRF's views: DRF loads this class while it is itself being imported."""

from django.conf import settings
from rest_framework import exceptions
from rest_framework.pagination import LimitOffsetPagination


def _query_int(request, name: str, *, minimum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise exceptions.ValidationError({name: [f"Must be a whole number of at least {minimum}."]})
    return value


class Pagination(LimitOffsetPagination):
    """`?limit=&offset=` on every list: at most API_MAX_PAGE_SIZE rows per page (a larger limit is capped,
    so no request can make one worker serialise a whole ledger); malformed values are a 400."""

    @property
    def default_limit(self):
        return min(settings.REST_FRAMEWORK["PAGE_SIZE"], self.max_limit)

    @property
    def max_limit(self):
        return settings.API_MAX_PAGE_SIZE

    def get_limit(self, request):
        limit = _query_int(request, self.limit_query_param, minimum=1)
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request):
        return _query_int(request, self.offset_query_param, minimum=0) or 0

    def get_schema_operation_parameters(self, view):
        return [
            {"name": self.limit_query_param, "required": False, "in": "query",
             "description": f"Rows per page (default {self.default_limit}; at most {self.max_limit}, a larger "
                            f"value is capped).",
             "schema": {"type": "integer", "minimum": 1}},
            {"name": self.offset_query_param, "required": False, "in": "query",
             "description": "Rows to skip.", "schema": {"type": "integer", "minimum": 0}},
        ]

"""Pages of an Activity search that stay fast at a million deliveries: a capped count, a page read in two steps.

An exact count reads every match: for a "contains" fragment most names hold ("ltd", "client") that is every
delivery of the tenant, hundreds of milliseconds. Counting stops after COUNT_CAP matches instead, and the
page says "more than 10,000" (nobody pages that far; they narrow the search). A page is read as its ids
first, then those rows: the (tenant, counterparty_index, created_at, id) index holds the sort keys, so the
newest 50 of a few thousand matches are found in the index alone, and only 50 table rows are read, instead
of reading every matching row to sort them.
"""

from django.core.paginator import Page, Paginator
from django.utils.functional import cached_property

COUNT_CAP = 10_000


class SearchPaginator(Paginator):
    def __init__(self, object_list, per_page, *, rows=None):
        """`rows`: where a page's rows are read by id, e.g. the tenant's table with the columns the page
        shows; the search itself by default. Reading them through the search's own filters would make
        PostgreSQL plan its (possibly long) list of names a third time, for 50 ids."""
        super().__init__(object_list, per_page)
        self.rows = object_list if rows is None else rows

    @cached_property
    def count(self) -> int:
        """The number of matches, up to COUNT_CAP + 1 (more is shown as "more than COUNT_CAP")."""
        return self.object_list.order_by()[:COUNT_CAP + 1].count()

    @property
    def count_capped(self) -> bool:
        return self.count > COUNT_CAP

    @property
    def count_label(self) -> str:
        return f"more than {COUNT_CAP:,}" if self.count_capped else f"{self.count:,}"

    def page(self, number) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        ids = list(self.object_list.values_list("pk", flat=True)[bottom:bottom + self.per_page])
        rows = {row.pk: row for row in self.rows.order_by().filter(pk__in=ids)}
        return self._get_page([rows[pk] for pk in ids if pk in rows], number, self)

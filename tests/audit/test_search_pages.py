"""Activity's pages at scale: the count stops at a cap (shown as "more than ..."), pages read ids first."""

import pytest

from audit import search_pages
from audit.models import Delivery
from audit.search_pages import SearchPaginator
from audit.selectors import delivery_search
from tests.factories import DeliveryFactory


@pytest.mark.django_db
def test_pages_keep_the_search_order_and_count_exactly_below_the_cap(tenant):
    made = [DeliveryFactory(tenant=tenant, counterparty_name="Acme Corporation") for _ in range(5)]
    DeliveryFactory(tenant=tenant, counterparty_name="Globex")

    paginator = SearchPaginator(delivery_search(tenant=tenant, filters={"counterparty": "acme"}), 2)

    assert paginator.count == 5 and paginator.count_label == "5" and not paginator.count_capped
    pages = [[d.pk for d in paginator.page(n)] for n in paginator.page_range]
    newest_first = [d.pk for d in Delivery.objects.filter(pk__in=[m.pk for m in made])
                    .order_by("-created_at", "-id")]
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]


@pytest.mark.django_db
def test_a_count_past_the_cap_says_more_than(tenant, monkeypatch, owner_client):
    monkeypatch.setattr(search_pages, "COUNT_CAP", 3)
    for _ in range(5):
        DeliveryFactory(tenant=tenant, counterparty_name="Acme Corporation")

    page = owner_client.get("/activity/", {"counterparty": "acme"}).content.decode()

    assert "Deliveries <span class=\"muted\">(more than 3)</span>" in page
    assert '<span class="muted">Page 1</span>' in page  # no "of N" when N is not known

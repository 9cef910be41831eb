"""One way to write a moment and an amount across the UI: the tenant's time zone, the absolute time as the
tooltip of a relative one, amounts with separators and their currency."""

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from audit.models import Delivery
from connector.core.currencies import currency_choices, current_currencies
from connector.templatetags.formats import ago, money, when
from tenants.models import Tenant
from tests.factories import delivery
from tests.mail import signup_link_path

MOMENT = datetime(2026, 11, 28, 8, 4, tzinfo=UTC)


def test_a_moment_is_written_one_way_in_the_active_time_zone():
    with timezone.override("Europe/Paris"):
        assert when(MOMENT) == '<time datetime="2026-11-28T08:04:00+00:00">28 Nov 2026, 09:04 CET</time>'
    with timezone.override("America/New_York"):
        assert "28 Nov 2026, 03:04 EST" in when(MOMENT)


def test_a_relative_time_carries_the_absolute_one_as_its_tooltip():
    with timezone.override("UTC"):
        text = ago(timezone.now())
    assert 'title="' in text and "UTC" in text and "now" in text


def test_amounts_have_separators_and_their_currency():
    assert money("1250", "USD") == '<span class="amount">1,250.00 USD</span>'
    assert money("1250", "JPY") == '<span class="amount">1,250 JPY</span>'  # the currency's own decimals
    assert money(None, "USD") == "—"


def test_currency_choices_are_current_codes_with_names():
    codes = current_currencies()
    assert "USD" in codes and "EUR" in codes
    assert not {"ADP", "AFA", "XTS", "XXX", "XAU"} & set(codes)
    grouped = currency_choices(first=["CAD", "HRK"])  # HRK: withdrawn in 2023, still the tenant's own
    assert grouped[0] == ("Yours", [("CAD", "CAD · Canadian Dollar"), ("HRK", "HRK · Croatian Kuna")])


@pytest.mark.django_db
def test_pages_show_times_in_the_tenants_time_zone(owner_client, tenant):
    tenant.time_zone = "Asia/Tokyo"
    tenant.save()
    d = delivery(tenant=tenant, at=MOMENT, status=Delivery.Status.POSTED)
    page = owner_client.get(f"/activity/deliveries/{d.pk}/").content.decode()
    assert "28 Nov 2026, 17:04 JST" in page


@pytest.mark.django_db
def test_signup_asks_for_the_time_zone(client, mailoutbox):
    page = client.get("/accounts/signup/").content.decode()
    assert 'name="time_zone"' in page and "data-browser-zone" in page
    response = client.post("/accounts/signup/", {
        "business_name": "Zoned Ltd", "email": "zoned@example.com",
        "base_currency": "EUR", "time_zone": "Europe/Berlin"})
    assert response.status_code == 302
    link = signup_link_path(mailoutbox[0].body)
    assert client.post(link, {"password": "a-long-passphrase-indeed"}).status_code == 302
    assert Tenant.objects.get(name="Zoned Ltd").time_zone == "Europe/Berlin"

"""The overdue check on each tenant's clock: a tenant in Pacific/Auckland and one in America/Los_Angeles,
FreshBooks mocked at the transport; the scan finds exactly the invoices due before the local day, once."""

from datetime import UTC, date, datetime
from decimal import Decimal
from unittest import mock

import pytest
import responses
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import Delivery, InboundEvent
from connector.pipeline import schedules
from connector.pipeline.inbound import inbound_process
from connector.pipeline.overdue import overdue_scan, overdue_scans_due
from digests.models import OverdueScan
from routing.models import Rule
from tests.digests.conftest import workspace
from tests.factories import TenantFactory
from tests.freshbooks.conftest import API, make_connection
from tests.pipeline.fake_freshbooks import FakeFreshBooks, book, invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def freshbooks(settings):
    settings.FRESHBOOKS_API_URL = API
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeFreshBooks(rsps)


@pytest.fixture
def auckland(freshbooks):
    tenant = TenantFactory(time_zone="Pacific/Auckland", base_currency="NZD")
    make_connection(tenant, account_id="NZacct1")
    freshbooks.serve("NZacct1", book("NZD"))
    return tenant


@pytest.fixture
def los_angeles(freshbooks):
    tenant = TenantFactory(time_zone="America/Los_Angeles")
    make_connection(tenant, account_id="LAacct1")
    freshbooks.serve("LAacct1", book("USD"))
    return tenant


def alerted(tenant) -> list[tuple[str, str]]:
    events = InboundEvent.objects.for_tenant(tenant).filter(name="invoice.overdue").order_by("object_id")
    return [(e.object_id, e.dedupe_key) for e in events]


@pytest.fixture(autouse=True)
def _no_broker():
    with mock.patch("connector.pipeline.tasks.process_event.apply_async") as delay:
        yield delay


def test_each_tenant_is_checked_at_its_own_nine_oclock_once(auckland, los_angeles):
    # 15:59 UTC on Mar 9: 08:59 in Los Angeles (PDT since Mar 8), 04:59 on Mar 10 in Auckland.
    with time_machine.travel(datetime(2026, 3, 9, 15, 59, tzinfo=UTC), tick=False):
        assert overdue_scans_due() == 0
    assert alerted(auckland) == alerted(los_angeles) == []

    # 16:00 UTC: 09:00 in Los Angeles. Due before Mar 9 there: only the invoice due Mar 8.
    with time_machine.travel(datetime(2026, 3, 9, 16, 0, tzinfo=UTC), tick=False):
        assert overdue_scans_due() == 1
    assert alerted(los_angeles) == [("101", "invoice.overdue:101:2026-03-08")]
    assert alerted(auckland) == []

    # 20:00 UTC: 09:00 on Mar 10 in Auckland. Due before Mar 10 there: Mar 8 and Mar 9. Los Angeles is done.
    with time_machine.travel(datetime(2026, 3, 9, 20, 0, tzinfo=UTC), tick=False):
        assert overdue_scans_due() == 1
    assert alerted(auckland) == [("101", "invoice.overdue:101:2026-03-08"),
                                 ("102", "invoice.overdue:102:2026-03-09")]
    assert len(alerted(los_angeles)) == 1

    # Later the same local days: beat's next ticks scan nobody; a scan run by hand finds nothing new.
    with time_machine.travel(datetime(2026, 3, 9, 20, 5, tzinfo=UTC), tick=False):
        assert overdue_scans_due() == 0
        again = overdue_scan(tenant=auckland)
    assert (again.today, again.found, again.new) == (date(2026, 3, 10), 2, 0)
    assert [(s.tenant_id, s.day, s.found, s.new) for s in OverdueScan.objects.order_by("day")] == [
        (los_angeles.pk, date(2026, 3, 9), 1, 1), (auckland.pk, date(2026, 3, 10), 2, 2)]

    # The next morning in Los Angeles: the invoice due Mar 9 is new; the one due Mar 8 was alerted already.
    with time_machine.travel(datetime(2026, 3, 10, 16, 0, tzinfo=UTC), tick=False):
        assert overdue_scans_due() == 1
    assert [k for _, k in alerted(los_angeles)] == ["invoice.overdue:101:2026-03-08",
                                                    "invoice.overdue:102:2026-03-09"]
    # Paid (104), draft (105) and deleted (106) invoices never, whatever the day.
    assert not InboundEvent.objects.filter(object_id__in=["104", "105", "106"]).exists()


def test_a_missed_nine_oclock_is_made_up_on_the_next_tick(los_angeles):
    # Beat was down all morning in Los Angeles; it comes back at 14:10 local time.
    with time_machine.travel(datetime(2026, 3, 9, 21, 10, tzinfo=UTC), tick=False):
        assert overdue_scans_due() == 1
    assert [o for o, _ in alerted(los_angeles)] == ["101"]


def test_the_scan_asks_freshbooks_for_open_invoices_page_by_page(freshbooks, los_angeles):
    freshbooks.serve("LAacct1", [invoice(200 + n, "2026-03-01") for n in range(150)])

    with time_machine.travel(datetime(2026, 3, 9, 16, 0, tzinfo=UTC), tick=False):
        result = overdue_scan(tenant=los_angeles)

    assert (result.found, result.new) == (150, 150)
    assert [dict(q)["page"] for q in freshbooks.list_queries] == ["1", "2"]
    assert [v for k, v in freshbooks.list_queries[0] if k == "search[statusids][]"] == ["0", "2", "3", "6", "7", "8"]


def test_command_prints_overdue_n_last_and_honours_today(auckland, capsys):
    call_command("scan_overdue", "--tenant", auckland.slug, "--today", "2026-03-11")
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "overdue 3"  # due Mar 8, 9 and 10 are all before Mar 11

    call_command("scan_overdue", "--tenant", auckland.slug, "--today", "2026-03-11")
    assert capsys.readouterr().out.strip().splitlines()[-1] == "overdue 0"


def test_command_fails_clearly(tenant):
    with pytest.raises(CommandError, match="No tenant"):
        call_command("scan_overdue", "--tenant", "nobody")
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("scan_overdue", "--tenant", tenant.slug, "--today", "tomorrow")
    with pytest.raises(CommandError, match="FreshBooks is not connected"):
        call_command("scan_overdue", "--tenant", tenant.slug)


def test_an_overdue_event_is_routed_like_any_event_with_days_and_outstanding(freshbooks, los_angeles):
    workspace(los_angeles, "T0LA", ("C0AR", "receivables"))
    Rule.objects.create(tenant=los_angeles, name="Overdue", events=["invoice.overdue"], channel_id="C0AR",
                        channel_name="receivables")
    Rule.objects.create(tenant=los_angeles, name="New invoices", events=["invoice.create"], channel_id="C0NEW",
                        channel_name="new")
    with time_machine.travel(datetime(2026, 3, 12, 16, 0, tzinfo=UTC), tick=False):
        overdue_scan(tenant=los_angeles)
        events = InboundEvent.objects.for_tenant(los_angeles).filter(name="invoice.overdue").order_by("object_id")
        for event in events:
            inbound_process(inbound_event_id=event.pk)

    deliveries = list(Delivery.objects.for_tenant(los_angeles).order_by("object_id"))
    assert [(d.event_name, d.object_id, d.channel_id, d.amount) for d in deliveries] == [
        ("invoice.overdue", "101", "C0AR", Decimal("100.00")), ("invoice.overdue", "102", "C0AR", Decimal("50.25")),
        ("invoice.overdue", "103", "C0AR", Decimal("100.00"))]
    assert deliveries[1].message_text == ("Invoice INV-102 for Acme Ltd is 3 days overdue: $50.25 outstanding, "
                                          "due Mar 9, 2026")


def test_an_invoice_paid_between_scan_and_alert_says_nothing(freshbooks, los_angeles):
    workspace(los_angeles, "T0LA", ("C0AR", "receivables"))
    Rule.objects.create(tenant=los_angeles, name="Overdue", events=["invoice.overdue"], channel_id="C0AR",
                        channel_name="receivables")
    with time_machine.travel(datetime(2026, 3, 9, 16, 0, tzinfo=UTC), tick=False):
        overdue_scan(tenant=los_angeles)
        freshbooks.accounts["LAacct1"][0].update(status=4, v3_status="paid", outstanding={"amount": "0.00",
                                                                                          "code": "USD"})
        event = InboundEvent.objects.for_tenant(los_angeles).get(name="invoice.overdue")
        inbound_process(inbound_event_id=event.pk)

    event.refresh_from_db()
    assert event.status == InboundEvent.Status.IGNORED
    assert "no longer overdue" in event.status_reason
    assert not Delivery.objects.exists()


def test_beats_tick_rings_one_task_per_due_tenant_and_each_scans_once(auckland, los_angeles):
    with time_machine.travel(datetime(2026, 3, 9, 16, 0, tzinfo=UTC), tick=False), \
            mock.patch.object(schedules.overdue_scan_tenant, "delay") as ring:
        schedules.overdue_scans_due()
        schedules.overdue_scans_due()
        assert [c.args for c in ring.call_args_list] == [(los_angeles.pk,), (los_angeles.pk,)]
        for call in ring.call_args_list:
            schedules.overdue_scan_tenant(*call.args)
    assert alerted(los_angeles) == [("101", "invoice.overdue:101:2026-03-08")]
    assert OverdueScan.objects.get().new == 1

"""Digests: figures from the ledger exact to the cent per currency, overdue invoices from FreshBooks, sent
through the delivery engine; beat sends each when due, once, and catches up a missed time once."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from unittest import mock

import pytest
import responses
import time_machine
from django.core.management import call_command

from audit.models import Delivery, InboundEvent
from connector.core.events import SUPPORTED_EVENTS, FinancialEvent
from connector.pipeline import schedules
from connector.pipeline.digests import digests_send_due, digests_send_now
from digests.models import Digest
from digests.services import digest_create
from tests.freshbooks.conftest import API, make_connection
from tests.pipeline.conftest import TEAM, drain
from tests.pipeline.fake_freshbooks import FakeFreshBooks, book

pytestmark = pytest.mark.django_db


@pytest.fixture
def freshbooks(settings):
    settings.FRESHBOOKS_API_URL = API
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeFreshBooks(rsps)


@pytest.fixture
def channel(tenant, installation):
    from connector.slack.models import SlackChannel

    SlackChannel.objects.create(tenant=tenant, installation=installation, channel_id="C1", name="finance",
                                is_member=True, refreshed_at=datetime.now(UTC))
    return "C1"


@pytest.fixture(autouse=True)
def _no_broker():
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async"):
        yield


def ledger(tenant, name: str, amount: str, currency: str, *, status=InboundEvent.Status.PROCESSED, object_id="1"):
    kind, action = SUPPORTED_EVENTS[name]
    event = FinancialEvent(event_name=name, kind=kind, action=action, object_id=object_id, amount=Decimal(amount),
                           currency=currency)
    return InboundEvent.objects.create(tenant=tenant, name=name, object_id=object_id, raw_body="x", status=status,
                                       financial_event=event.to_dict())


def test_send_now_counts_the_period_exactly_per_currency_and_posts_through_the_engine(
        tenant, other_tenant, installation, channel, freshbooks, slack):
    tenant.time_zone = "America/Los_Angeles"
    tenant.save()
    make_connection(tenant, account_id="LAacct1")
    freshbooks.serve("LAacct1", book("USD"))
    with time_machine.travel(datetime(2026, 3, 8, 12, 0, tzinfo=UTC), tick=False):
        ledger(tenant, "payment.create", "999.99", "USD")  # before the period: not counted
    with time_machine.travel(datetime(2026, 3, 9, 12, 0, tzinfo=UTC), tick=False):
        digest = digest_create(tenant=tenant, actor=None, data={
            "name": "Morning summary", "channel_id": "C1", "frequency": "daily", "time": "09:00"})
        for n in range(3):  # 0.10 three times is 0.30 exactly (a float sum would not be)
            ledger(tenant, "payment.create", "0.10", "USD", object_id=f"p{n}")
        ledger(tenant, "payment.create", "1234.56", "eur", object_id="p9")
        ledger(tenant, "payment.create", "5.00", "USD", status=InboundEvent.Status.DUPLICATE)  # seen before
        ledger(tenant, "invoice.create", "500.00", "USD", status=InboundEvent.Status.IGNORED)  # no rule: still news
        ledger(tenant, "bill.create", "89.99", "USD")
        ledger(tenant, "expense.create", "42.10", "EUR")
        ledger(tenant, "invoice.update", "700.00", "USD")  # an update is no new money
        ledger(other_tenant, "payment.create", "77.77", "USD")  # another business
    with time_machine.travel(datetime(2026, 3, 10, 2, 0, tzinfo=UTC), tick=False):  # Mar 9, 19:00 in LA
        sent = digests_send_now(tenant=tenant)

    assert len(sent) == 1
    delivery = sent[0]
    assert (delivery.event_name, delivery.kind, delivery.channel_id, delivery.slack_team_id) == (
        "digest", "digest", "C1", TEAM)
    text = delivery.message_text
    assert "payments received 4 ($0.30 + €1,234.56)" in text
    assert "invoices created 1 ($500.00)" in text and "bills 1 ($89.99)" in text and "expenses 1 (€42.10)" in text
    # Overdue from FreshBooks on Mar 9 in LA: only the invoice due Mar 8 (paid, draft, deleted never).
    assert "overdue now 1 ($100.00 outstanding)" in text
    assert "Mar 8, 2026 19:00 – Mar 9, 2026 19:00 (America/Los_Angeles)" in text  # first digest: one day back
    inbound = delivery.inbound_event
    assert (inbound.name, inbound.status, inbound.dedupe_key) == (
        "digest", "processed", f"digest:{digest.pk}:now:2026-03-10T02:00:00+00:00")
    digest.refresh_from_db()
    assert digest.last_sent_at == datetime(2026, 3, 10, 2, 0, tzinfo=UTC)

    drain("C1")  # the same engine as any event: paced post, attempt recorded
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.POSTED and delivery.attempts.count() == 1
    assert slack.posts_to("C1")[0]["blocks"][0]["text"]["text"] == "Morning summary"


def test_beat_sends_when_due_once_and_catches_up_a_missed_time_once(tenant, installation, channel, freshbooks):
    tenant.time_zone = "Pacific/Auckland"
    tenant.save()
    with time_machine.travel(datetime(2026, 3, 9, 0, 0, tzinfo=UTC), tick=False):  # 13:00 on Mar 9 in Auckland
        digest = digest_create(tenant=tenant, actor=None, data={
            "name": "Morning summary", "channel_id": "C1", "frequency": "daily", "time": "09:00"})
    assert digest.next_due_at == datetime(2026, 3, 9, 20, 0, tzinfo=UTC)  # 09:00 on Mar 10 in Auckland

    with time_machine.travel(datetime(2026, 3, 9, 19, 59, tzinfo=UTC), tick=False):
        assert digests_send_due() == []
    with time_machine.travel(datetime(2026, 3, 9, 20, 0, 30, tzinfo=UTC), tick=False):
        assert len(digests_send_due()) == 1
        assert digests_send_due() == []  # the next tick of the same minute: sent already
    digest.refresh_from_db()
    assert digest.next_due_at == datetime(2026, 3, 10, 20, 0, tzinfo=UTC)

    # Beat is down from Mar 11 to Mar 12, 15:00 local: two 09:00s missed, one digest on coming back,
    # covering everything since the last one.
    with time_machine.travel(datetime(2026, 3, 12, 2, 0, tzinfo=UTC), tick=False):
        caught_up = digests_send_due()
        assert digests_send_due() == []
    assert len(caught_up) == 1
    assert "Mar 10, 2026 09:00 – Mar 12, 2026 15:00 (Pacific/Auckland)" in caught_up[0].message_text
    digest.refresh_from_db()
    assert digest.next_due_at == datetime(2026, 3, 12, 20, 0, tzinfo=UTC)  # Mar 13, 09:00 local
    assert Delivery.objects.filter(event_name="digest").count() == 2


def test_disabled_digests_are_not_sent_and_the_command_prints_its_count(tenant, installation, channel, freshbooks,
                                                                        capsys):
    digest_create(tenant=tenant, actor=None, data={"name": "On", "channel_id": "C1", "frequency": "weekly",
                                                   "weekday": 0, "time": "08:00"})
    digest_create(tenant=tenant, actor=None, data={"name": "Off", "channel_id": "C1", "frequency": "daily",
                                                   "time": "08:00", "enabled": False})

    call_command("send_digests", "--tenant", tenant.slug, "--now")

    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == "digests 1" and out[0].startswith("On -> #finance")
    assert [d.document_number for d in Delivery.objects.filter(event_name="digest")] == ["On"]
    digest = Digest.objects.get(name="On")
    assert digest.next_due_at.astimezone(UTC).time() == time(8, 0)  # --now keeps the schedule
    assert digest.next_due_at - datetime.now(UTC) < timedelta(days=7, minutes=1)


def test_without_freshbooks_the_digest_says_so_and_still_goes_out(tenant, installation, channel):
    digest_create(tenant=tenant, actor=None, data={"name": "Recap", "channel_id": "C1", "frequency": "daily",
                                                   "time": "08:00"})

    sent = digests_send_now(tenant=tenant)

    assert "overdue now could not be read from FreshBooks" in sent[0].message_text
    assert sent[0].message_blocks[3]["text"]["text"] == ("*Overdue now*: could not be read from FreshBooks "
                                                         "(FreshBooks is not connected)")


def test_a_digest_is_audited_and_replayable_like_any_delivery(owner_client, owner, tenant, installation, channel):
    digest_create(tenant=tenant, actor=None, data={"name": "Recap", "channel_id": "C1", "frequency": "daily",
                                                   "time": "08:00"})
    delivery = digests_send_now(tenant=tenant)[0]

    page = owner_client.get(f"/activity/deliveries/{delivery.pk}/").content.decode()
    assert "Digest" in page and "overdue_scan" not in page and "source" in page

    response = owner_client.post(f"/activity/deliveries/{delivery.pk}/replay/", {"mode": "as_routed"})
    assert response.status_code == 302
    replay = Delivery.objects.get(replay_of=delivery)
    assert (replay.event_name, replay.channel_id, replay.message_text) == ("digest", "C1", delivery.message_text)


def test_beats_tick_rings_one_task_per_due_digest_and_each_sends_once(tenant, installation, channel, freshbooks):
    with time_machine.travel(datetime(2026, 3, 9, 0, 0, tzinfo=UTC), tick=False):
        due = digest_create(tenant=tenant, actor=None, data={"name": "Due", "channel_id": "C1",
                                                             "frequency": "daily", "time": "06:00"})
        digest_create(tenant=tenant, actor=None, data={"name": "Later", "channel_id": "C1", "frequency": "daily",
                                                       "time": "18:00"})
    with time_machine.travel(datetime(2026, 3, 9, 7, 0, tzinfo=UTC), tick=False), \
            mock.patch.object(schedules.digest_send, "delay") as ring:
        schedules.digests_send_due()
        schedules.digests_send_due()  # a second tick before the task ran rings again: the task sends once
        assert [c.args for c in ring.call_args_list] == [(due.pk,), (due.pk,)]
        for call in ring.call_args_list:
            schedules.digest_send(*call.args)
    assert list(Delivery.objects.filter(event_name="digest").values_list("document_number", flat=True)) == ["Due"]

"""Held work: "Check now" looks at once (the channel probe), releases what the fixed cause held, and can
be used once a minute per tenant and channel; held work says when the sweep looks again by itself."""

from datetime import timedelta

from django.core.cache import cache
from django.utils import timezone

from audit.models import Delivery, HeldReason
from connector.pipeline import pacing
from connector.pipeline.recheck import check_now, next_check_at
from tests.pipeline.conftest import TEAM


def held(make_delivery, channel="C1", reason=HeldReason.CHANNEL_UNUSABLE, code="is_archived"):
    delivery = make_delivery(channel, status=Delivery.Status.HELD)
    Delivery.objects.filter(pk=delivery.pk).update(held_reason=reason, last_error_code=code, held_at=timezone.now())
    return delivery


def test_check_now_releases_a_channel_that_works_again(installation, slack, make_delivery, tenant):
    first, second = held(make_delivery), held(make_delivery)
    slack.usable["C1"] = False

    still = check_now(tenant=tenant, reason=HeldReason.CHANNEL_UNUSABLE, channel_id="C1")
    assert still.released == 0 and "#c1 still cannot be posted to (is_archived)" in still.message
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.HELD}

    slack.usable["C1"] = True
    cache.clear()  # as a minute later: the limit has expired
    fixed = check_now(tenant=tenant, reason=HeldReason.CHANNEL_UNUSABLE, channel_id="C1")
    assert fixed.released == 2 and "2 held messages released" in fixed.message
    assert {d.status for d in Delivery.objects.filter(pk__in=[first.pk, second.pk])} == {Delivery.Status.PENDING}


def test_check_now_is_once_a_minute_per_tenant_and_channel(installation, slack, make_delivery, tenant):
    held(make_delivery, "C1"), held(make_delivery, "C2")
    slack.usable["C1"] = slack.usable["C2"] = False
    assert check_now(tenant=tenant, reason=HeldReason.CHANNEL_UNUSABLE, channel_id="C1").retry_in == 0
    again = check_now(tenant=tenant, reason=HeldReason.CHANNEL_UNUSABLE, channel_id="C1")
    assert 0 < again.retry_in <= 60 and "try again in" in again.message
    assert check_now(tenant=tenant, reason=HeldReason.CHANNEL_UNUSABLE, channel_id="C2").retry_in == 0  # another channel


def test_check_now_releases_slack_holds_once_slack_is_installed(installation, make_delivery, tenant):
    delivery = held(make_delivery, reason=HeldReason.SLACK_ACCESS_LOST, code="token_revoked")
    result = check_now(tenant=tenant, reason=HeldReason.SLACK_ACCESS_LOST)
    assert result.released == 1
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.PENDING


def test_next_check_is_the_next_sweep_after_the_channel_probe_interval(installation):
    now = timezone.now()
    assert next_check_at(reason=HeldReason.SLACK_ACCESS_LOST, now=now) == now + timedelta(seconds=60)
    pacing.probe_due(TEAM, "C1", 300)  # probed just now: the next probe in 5 minutes
    later = next_check_at(reason=HeldReason.CHANNEL_UNUSABLE, team_id=TEAM, channel_id="C1", now=now)
    assert timedelta(seconds=355) <= later - now <= timedelta(seconds=360)

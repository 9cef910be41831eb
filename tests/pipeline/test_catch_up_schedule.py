"""When catch-up reads run: each tenant at its own slot, spread over the interval; at once after a gap;
not while FreshBooks asked us to back off; never two at a time for one tenant; off at 0."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import responses
from django.utils import timezone

from connector.freshbooks.models import CatchUpState, FreshBooksCallback, FreshBooksConnection
from connector.freshbooks.services import callback_verification_confirm
from connector.pipeline.catch_up_schedule import (
    CLAIM_LEASE,
    catch_up_claim_release,
    catch_up_claim_take,
    catch_up_tick,
    failure_backoff,
    next_slot,
    slot_offset,
)
from tests.freshbooks.conftest import API, make_callback, make_connection

pytestmark = pytest.mark.django_db


def test_ten_thousand_tenants_spread_evenly_over_the_interval():
    per_minute = Counter(slot_offset(tenant_id=tenant_id, period_seconds=900) // 60 for tenant_id in range(10_000))
    assert len(per_minute) == 15  # every minute of the 15 has its share
    assert max(per_minute.values()) < 1.15 * 10_000 / 15  # none takes much more than an even share


def test_a_tenant_reads_at_its_own_slot_once_per_interval(settings):
    settings.CATCH_UP_INTERVAL_MINUTES = 15
    now = datetime(2026, 3, 3, 14, 0, 30, tzinfo=UTC)
    first = next_slot(tenant_id=42, after=now)
    second = next_slot(tenant_id=42, after=first)
    assert now < first <= now + timedelta(minutes=15)
    assert second - first == timedelta(minutes=15)
    offset = slot_offset(tenant_id=42, period_seconds=900)
    assert int(first.timestamp()) % 900 == offset


def test_an_interval_of_a_fraction_of_a_minute_gives_slots_that_far_apart(settings):
    settings.CATCH_UP_INTERVAL_MINUTES = 0.25
    now = datetime(2026, 3, 3, 14, 0, 30, tzinfo=UTC)
    first = next_slot(tenant_id=42, after=now)
    assert now < first <= now + timedelta(seconds=15)
    assert next_slot(tenant_id=42, after=first) - first == timedelta(seconds=15)


def test_backoff_follows_retry_after_else_doubles_up_to_the_interval(settings):
    settings.CATCH_UP_INTERVAL_MINUTES = 15
    assert failure_backoff(failures=1, retry_after=120) == timedelta(seconds=120)
    assert [failure_backoff(failures=n, retry_after=None) for n in (1, 2, 3, 4, 5, 9)] == [
        timedelta(minutes=m) for m in (1, 2, 4, 8, 15, 15)]


@pytest.fixture
def state(tenant, settings):
    settings.FRESHBOOKS_API_URL = API
    settings.CATCH_UP_INTERVAL_MINUTES = 15
    connection = make_connection(tenant)
    catch_up_tick(enqueue=lambda *a: None, now=timezone.now() - timedelta(hours=1))  # makes the state
    return CatchUpState.objects.get(connection=connection)


def handed(now=None):
    calls = []
    catch_up_tick(enqueue=lambda connection_id, claim: calls.append((connection_id, claim)), now=now)
    return calls


def test_tick_makes_the_state_at_the_connection_and_hands_out_due_reads_once(state):
    assert state.history_before == state.watermark == state.connection.created_at
    CatchUpState.objects.filter(pk=state.pk).update(next_read_at=timezone.now() - timedelta(seconds=5))

    (first,) = handed()
    assert first[0] == state.connection_id
    assert handed() == []  # claimed: the next tick does not hand it out again
    state.refresh_from_db()
    assert state.next_read_at > timezone.now()  # moved to the tenant's next slot


def test_a_claimed_read_runs_once_even_if_its_task_is_delivered_twice(state):
    CatchUpState.objects.filter(pk=state.pk).update(next_read_at=timezone.now())
    ((connection_id, claim),) = handed()
    assert catch_up_claim_take(connection_id=connection_id, claim=claim) is True
    assert catch_up_claim_take(connection_id=connection_id, claim=claim) is False
    catch_up_claim_release(connection_id=connection_id)


def test_a_lost_task_is_handed_out_again_once_its_claim_expires(state):
    CatchUpState.objects.filter(pk=state.pk).update(next_read_at=timezone.now(),
                                                    last_success_at=timezone.now() - timedelta(hours=2))
    assert len(handed()) == 1
    assert len(handed(now=timezone.now() + CLAIM_LEASE + timedelta(seconds=1))) == 1


def test_last_good_read_older_than_two_intervals_reads_at_once(state):
    CatchUpState.objects.filter(pk=state.pk).update(
        next_read_at=timezone.now() + timedelta(minutes=10), last_success_at=timezone.now() - timedelta(minutes=31))
    assert len(handed()) == 1


def test_no_read_while_freshbooks_backoff_lasts(state):
    CatchUpState.objects.filter(pk=state.pk).update(next_read_at=timezone.now(),
                                                    backoff_until=timezone.now() + timedelta(minutes=2))
    assert handed() == []
    assert len(handed(now=timezone.now() + timedelta(minutes=3))) == 1


def test_interval_zero_turns_catch_up_off(state, settings):
    settings.CATCH_UP_INTERVAL_MINUTES = 0
    CatchUpState.objects.filter(pk=state.pk).update(next_read_at=timezone.now())
    assert handed() == []


def test_a_connection_needing_the_user_is_not_read(state):
    CatchUpState.objects.filter(pk=state.pk).update(next_read_at=timezone.now())
    FreshBooksConnection.objects.filter(pk=state.connection_id).update(status="needs_reauth")
    assert handed() == []


def test_reconnecting_brings_the_next_read_forward(state):
    connection = state.connection
    connection.status = FreshBooksConnection.Status.ACTIVE
    connection.save()  # what connecting again does
    state.refresh_from_db()
    assert state.next_read_at <= timezone.now()


def test_a_token_refresh_is_no_gap(state):
    before = state.next_read_at
    connection = state.connection
    connection.access_token = "access-2"
    connection.save(update_fields=["access_token", "updated_at"])
    state.refresh_from_db()
    assert state.next_read_at == before


def test_a_callback_verified_again_after_a_read_brings_the_next_read_forward(state):
    CatchUpState.objects.filter(pk=state.pk).update(last_read_at=timezone.now(),
                                                    next_read_at=timezone.now() + timedelta(minutes=10))
    callback = make_callback(state.connection, "invoice.create", callback_id="77",
                             state=FreshBooksCallback.State.WAITING)
    FreshBooksCallback.objects.filter(pk=callback.pk).update(pending_verifier="code-1")
    with responses.RequestsMock() as rsps:
        rsps.add("PUT", f"{API}/events/account/{state.connection.account_id}/events/callbacks/77",
                 json={"response": {"result": {"callback": {"callbackid": 77, "verified": True}}}})
        callback_verification_confirm(callback=callback)
    state.refresh_from_db()
    assert state.next_read_at <= timezone.now()

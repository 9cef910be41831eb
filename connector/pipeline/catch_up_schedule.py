"""When each tenant's catch-up read runs: every CATCH_UP_INTERVAL_MINUTES, each tenant at its own slot
within the interval (a hash of its id), so ten thousand tenants do not read at once; sooner after a gap
(a reconnect, a callback verified again, an outage that left the last good read more than two intervals
old); later while FreshBooks asks us to back off."""

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from connector.freshbooks.models import CatchUpState, FreshBooksConnection

logger = logging.getLogger(__name__)

# A read claimed by the beat must start within this, or the next tick may hand it out again (a task lost
# with the broker). Also the longest a read may take: the task's time limit is below it.
CLAIM_LEASE = timedelta(minutes=10)
# Backoff after a failed read when FreshBooks gave no Retry-After: doubles per failure, from ...
FAILURE_BACKOFF_FIRST = timedelta(minutes=1)
# ... up to the interval (never slower than the schedule itself), and at most this.
FAILURE_BACKOFF_MAX = timedelta(hours=1)
# The beat hands out at most this many reads per tick: after a long outage every tenant is overdue at
# once, and the queue should not take them all in one go.
TICK_LIMIT = 2000


def interval() -> timedelta | None:
    minutes = settings.CATCH_UP_INTERVAL_MINUTES
    return timedelta(minutes=minutes) if minutes > 0 else None


def slot_offset(*, tenant_id: int, period_seconds: int) -> int:
    """The tenant's place within the interval, in seconds: stable, and spread evenly over tenants."""
    digest = hashlib.sha256(f"catch-up:{tenant_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % max(1, period_seconds)


def next_slot(*, tenant_id: int, after: datetime) -> datetime:
    """The first of the tenant's slots strictly after `after` (a far date when catch-up is off)."""
    period = interval()
    if period is None:
        return after + timedelta(days=3650)
    seconds = int(period.total_seconds())
    offset = slot_offset(tenant_id=tenant_id, period_seconds=seconds)
    epoch = int(after.timestamp())
    start = epoch - ((epoch - offset) % seconds)  # the latest slot at or before `after`
    return datetime.fromtimestamp(start + seconds, tz=after.tzinfo or timezone.get_current_timezone())


def failure_backoff(*, failures: int, retry_after: int | None) -> timedelta:
    """How long a tenant waits after a failed read: FreshBooks' Retry-After when it sent one (a 429), else
    doubling from FAILURE_BACKOFF_FIRST, capped by the interval and FAILURE_BACKOFF_MAX."""
    if retry_after:
        return timedelta(seconds=retry_after)
    cap = min(interval() or FAILURE_BACKOFF_MAX, FAILURE_BACKOFF_MAX)
    return min(FAILURE_BACKOFF_FIRST * 2 ** max(0, failures - 1), cap)


def catch_up_soon(*, connection_id: int, reason: str) -> None:
    """After a gap: the connection's next read runs at the beat's next tick, not at its slot."""
    now = timezone.now()
    moved = CatchUpState.objects.filter(connection_id=connection_id).update(next_read_at=now, backoff_until=None,
                                                                           updated_at=now)
    if moved:
        logger.info("catch_up.soon", extra={"connection_id": connection_id, "reason": reason})


def catch_up_tick(*, enqueue: Callable[[int, str], None], now: datetime | None = None) -> int:
    """The beat's minute: makes the missing states, then hands each due read to `enqueue(connection_id,
    claim)`. A read is due at its slot, or at once when the last good read is over two intervals old; not
    while FreshBooks' backoff lasts or another read holds it. Returns how many were handed out."""
    period = interval()
    if period is None:
        return 0
    now = now or timezone.now()
    _states_make(now)
    due = (CatchUpState.objects.filter(connection__status=FreshBooksConnection.Status.ACTIVE)
           .filter(Q(next_read_at__lte=now) | Q(last_success_at__lt=now - 2 * period))
           .filter(Q(backoff_until__isnull=True) | Q(backoff_until__lte=now))
           .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
           .order_by("next_read_at").values_list("pk", "connection_id", "tenant_id")[:TICK_LIMIT])
    handed = 0
    for pk, connection_id, tenant_id in due:
        claim = now + CLAIM_LEASE
        claimed = (CatchUpState.objects.filter(pk=pk).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
                   .update(claimed_until=claim, next_read_at=next_slot(tenant_id=tenant_id, after=now)))
        if claimed:
            enqueue(connection_id, claim.isoformat())
            handed += 1
    return handed


def catch_up_claim_take(*, connection_id: int, claim: str) -> bool:
    """The queued read starts: it holds the claim the beat gave it, unless a copy of the task already took
    it (a redelivered message) or the claim expired and went to another read."""
    try:
        given = datetime.fromisoformat(claim)
    except ValueError:
        return False
    now = timezone.now()
    return CatchUpState.objects.filter(connection_id=connection_id, claimed_until=given, claimed_until__gt=now) \
        .update(claimed_until=now + CLAIM_LEASE + timedelta(microseconds=1)) == 1


def catch_up_claim_release(*, connection_id: int) -> None:
    CatchUpState.objects.filter(connection_id=connection_id).update(claimed_until=None)


def _states_make(now: datetime) -> None:
    """A state for each active connection that has none yet (just connected)."""
    missing = (FreshBooksConnection.objects.filter(status=FreshBooksConnection.Status.ACTIVE, catch_up__isnull=True)
               .values_list("pk", "tenant_id", "created_at"))
    CatchUpState.objects.bulk_create(
        [CatchUpState(connection_id=pk, tenant_id=tenant_id, history_before=created, watermark=created,
                      next_read_at=next_slot(tenant_id=tenant_id, after=now))
         for pk, tenant_id, created in missing], ignore_conflicts=True)

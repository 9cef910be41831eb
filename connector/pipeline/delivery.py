"""Sending one channel's next delivery to Slack, and deciding what each outcome means.

A channel drain takes the channel's pace slot, claims its oldest due delivery with a conditional UPDATE,
posts it, records the attempt and moves the delivery to its next state. Nothing sleeps: when the slot is
taken or Slack said wait, the caller is told when to come back.
"""

import logging
import time
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import Delivery, DeliveryAttempt
from connector.pipeline import pacing
from connector.pipeline.policy import (
    CHANNEL_INTERVAL_MS,
    CLAIM_LEASE,
    DEFAULT_RETRY_AFTER,
    HISTORY_LOOKBACK,
    SLACK_GIVE_UP_AFTER,
    slack_retry_delay,
)

logger = logging.getLogger(__name__)

WAITING = (Delivery.Status.PENDING, Delivery.Status.RETRYING)


@dataclass(frozen=True)
class DrainResult:
    """`again_in`: seconds until this channel should be drained again; None when nothing is due."""

    again_in: float | None
    posted: int = 0


def due_deliveries(team_id: str, channel_id: str):
    now = timezone.now()
    return (Delivery.objects.filter(slack_team_id=team_id, channel_id=channel_id, status__in=WAITING)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)))


def next_due_in(team_id: str, channel_id: str) -> float | None:
    """Seconds until the channel's next waiting delivery is due (0 when one is due now), None if none waits."""
    nxt = (Delivery.objects.filter(slack_team_id=team_id, channel_id=channel_id, status__in=WAITING)
           .order_by("next_attempt_at").values_list("next_attempt_at", flat=True))
    has_null = Delivery.objects.filter(slack_team_id=team_id, channel_id=channel_id, status__in=WAITING,
                                       next_attempt_at__isnull=True).exists()
    if has_null:
        return 0.0
    first = nxt.first()
    if first is None:
        return None
    return max(0.0, (first - timezone.now()).total_seconds())


def channel_drain_once(*, team_id: str, channel_id: str, task_id: str = "") -> DrainResult:
    """Post at most one delivery of this channel, if its pace allows; say when to come back."""
    parked = pacing.parked_for(team_id, channel_id)
    if parked:
        return DrainResult(again_in=parked)
    # In the order FreshBooks told us of the events (inbound ids), not the order workers finished fetching them.
    candidate = (due_deliveries(team_id, channel_id).order_by("inbound_event_id", "id")
                 .values_list("id", flat=True).first())
    if candidate is None:
        return DrainResult(again_in=next_due_in(team_id, channel_id))
    wait = pacing.take_slot(team_id, channel_id)
    if wait:
        return DrainResult(again_in=wait)
    delivery = _claim(candidate)
    if delivery is None:  # another worker took it between our read and our claim
        return DrainResult(again_in=0.0)
    try:
        posted = delivery_send(delivery=delivery, task_id=task_id)
    finally:
        pacing.slot_restart(team_id, channel_id)
        slot_opens = time.monotonic() + CHANNEL_INTERVAL_MS / 1000
    again = next_due_in(team_id, channel_id)
    if again is not None:
        # The slot just restarted: come back when it opens (not later, not to be told to wait).
        again = max(again, slot_opens - time.monotonic(), 0.0)
    return DrainResult(again_in=again, posted=int(posted))


def _claim(delivery_id: int) -> Delivery | None:
    """Claim the delivery for one post. A delivery still marked as sending from a previous try keeps that
    mark (its outcome is unknown), so delivery_send looks in Slack's history before posting again."""
    now = timezone.now()
    with transaction.atomic():
        # of=("self",): lock the delivery row only. Locking the joined tenant row too would make concurrent
        # claims of one tenant's channels (or anything else holding that row) skip each other's deliveries.
        delivery = (Delivery.objects.select_for_update(skip_locked=True, of=("self",)).select_related("tenant")
                    .filter(pk=delivery_id, status__in=WAITING)
                    .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)).first())
        if delivery is None:
            return None
        previous_send = delivery.sending_since
        delivery.next_attempt_at = now + CLAIM_LEASE  # if this worker dies, the sweep retries after the lease
        delivery.sending_since = previous_send or now
        delivery.first_attempt_at = delivery.first_attempt_at or now
        delivery.attempt_count += 1
        delivery.save(update_fields=["next_attempt_at", "sending_since", "first_attempt_at", "attempt_count",
                                     "updated_at"])
    delivery._outcome_unknown = previous_send is not None  # noqa: SLF001 - transient flag for delivery_send
    return delivery


def _installation(delivery: Delivery):
    from connector.slack.models import SlackInstallation

    return (SlackInstallation.objects.for_tenant(delivery.tenant).filter(team_id=delivery.slack_team_id)
            .order_by("-installed_at").first())


def delivery_send(*, delivery: Delivery, task_id: str = "") -> bool:
    """Post a claimed delivery; record the attempt; move the delivery on. True when it is now posted."""
    from connector.slack import errors as slack_errors
    from connector.slack.client import slack_find_posted, slack_post_message
    from connector.slack.models import InstallationStatus, SlackInstallation

    started = timezone.now()
    clock = time.monotonic()
    installation = _installation(delivery)
    if installation is None or installation.status != InstallationStatus.ACTIVE:
        _hold_installation(delivery.tenant, delivery.slack_team_id,
                           "token_revoked" if installation else "slack_not_connected")
        _attempt(delivery, started, clock, DeliveryAttempt.Outcome.INSTALLATION_DEAD,
                 error_code="token_revoked" if installation else "slack_not_connected", task_id=task_id)
        return False
    try:
        if getattr(delivery, "_outcome_unknown", False):
            oldest = (delivery.first_attempt_at or started) - HISTORY_LOOKBACK
            ts = slack_find_posted(installation=installation, channel_id=delivery.channel_id,
                                   delivery_id=delivery.pk, oldest=max(oldest.timestamp(), 0))
            if ts:
                _posted(delivery, delivery.channel_id, ts)
                _attempt(delivery, started, clock, DeliveryAttempt.Outcome.DUPLICATE_FOUND, task_id=task_id)
                logger.info("delivery.found_in_history", extra={"delivery_id": delivery.pk})
                return True
        result = slack_post_message(
            installation=installation, channel_id=delivery.channel_id, text=delivery.message_text,
            blocks=delivery.message_blocks or [],
            metadata={"delivery_id": delivery.pk, "tenant": delivery.tenant.slug},
        )
    except slack_errors.RateLimited as exc:
        retry_after = exc.retry_after or DEFAULT_RETRY_AFTER
        pacing.park(delivery.slack_team_id, delivery.channel_id, retry_after,
                    whole_team=getattr(exc, "scope", "channel") == "team")
        # The park holds the channel back; the delivery stays due so that it keeps its place at the head
        # of the channel's queue (a later delivery must not overtake it when the park ends).
        _retry_at(delivery, 0, keep_sending_mark=False)
        _attempt(delivery, started, clock, DeliveryAttempt.Outcome.RATE_LIMITED, exc=exc,
                 retry_after=retry_after, next_in=retry_after, task_id=task_id)
        return False
    except slack_errors.Transient as exc:
        # OutcomeUnknown (a Transient) keeps the sending mark: the next try looks in history first.
        unknown = isinstance(exc, slack_errors.OutcomeUnknown)
        delay = slack_retry_delay(_failure_number(delivery))
        failed = _retry_or_fail(delivery, delay, exc, keep_sending_mark=unknown)
        _attempt(delivery, started, clock,
                 DeliveryAttempt.Outcome.UNKNOWN if unknown else DeliveryAttempt.Outcome.TRANSIENT, exc=exc,
                 next_in=None if failed else delay, task_id=task_id)
        return False
    except slack_errors.InstallationDead as exc:
        SlackInstallation.objects.filter(pk=installation.pk).update(
            status=InstallationStatus.REVOKED, revoked_at=timezone.now())
        _clear_sending(delivery)
        _hold_installation(delivery.tenant, delivery.slack_team_id, exc.code)
        _attempt(delivery, started, clock, DeliveryAttempt.Outcome.INSTALLATION_DEAD, exc=exc, task_id=task_id)
        logger.warning("delivery.installation_dead", extra={"tenant": delivery.tenant.slug, "code": exc.code})
        return False
    except slack_errors.DestinationBroken as exc:
        _clear_sending(delivery)
        _hold_channel(delivery.tenant, delivery.slack_team_id, delivery.channel_id, exc.code)
        _attempt(delivery, started, clock, DeliveryAttempt.Outcome.DESTINATION_BROKEN, exc=exc, task_id=task_id)
        logger.warning("delivery.destination_broken",
                       extra={"tenant": delivery.tenant.slug, "channel": delivery.channel_id, "code": exc.code})
        return False
    except slack_errors.SlackError as exc:  # PayloadBug and anything unclassified: never retried unchanged
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.FAILED, last_error_code=exc.code[:64], next_attempt_at=None,
            sending_since=None, updated_at=timezone.now())
        _attempt(delivery, started, clock, DeliveryAttempt.Outcome.PAYLOAD_BUG, exc=exc, task_id=task_id)
        logger.error("delivery.payload_rejected", extra={"delivery_id": delivery.pk, "code": exc.code})
        return False
    with transaction.atomic():  # the status and its attempt together: a page never shows one without the other
        _posted(delivery, result.channel, result.ts)
        _attempt(delivery, started, clock, DeliveryAttempt.Outcome.POSTED, task_id=task_id)
    return True


def _failure_number(delivery: Delivery) -> int:
    """Which failure this is (1-based), counting only failed posts: a 429 or a history lookup is no failure,
    so it does not push the delivery further along the backoff schedule."""
    failed = (DeliveryAttempt.Outcome.TRANSIENT, DeliveryAttempt.Outcome.UNKNOWN)
    return delivery.attempts.filter(outcome__in=failed).count() + 1


def _posted(delivery: Delivery, channel: str, ts: str) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.POSTED, slack_channel=channel or delivery.channel_id, slack_ts=ts,
        posted_at=timezone.now(), next_attempt_at=None, sending_since=None, last_error_code="",
        held_reason="", updated_at=timezone.now())


def _clear_sending(delivery: Delivery) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(sending_since=None)


def _retry_at(delivery: Delivery, seconds: float, *, keep_sending_mark: bool, code: str = "") -> None:
    # A failure makes the delivery "retrying"; a 429 only delays it (its status stays as it was).
    fields = {"status": Delivery.Status.RETRYING if code else delivery.status,
              "next_attempt_at": timezone.now() + timezone.timedelta(seconds=seconds),
              "updated_at": timezone.now()}
    if code:
        fields["last_error_code"] = code[:64]
    if not keep_sending_mark:
        fields["sending_since"] = None
    Delivery.objects.filter(pk=delivery.pk).update(**fields)


def _retry_or_fail(delivery: Delivery, delay: float, exc, *, keep_sending_mark: bool) -> bool:
    """Schedule the next try, or fail the delivery once SLACK_GIVE_UP_AFTER has passed. True if failed."""
    first = delivery.first_attempt_at or timezone.now()
    if timezone.now() + timezone.timedelta(seconds=delay) - first > SLACK_GIVE_UP_AFTER:
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.FAILED, last_error_code=(exc.code or "transient")[:64], next_attempt_at=None,
            updated_at=timezone.now(), **({} if keep_sending_mark else {"sending_since": None}))
        return True
    _retry_at(delivery, delay, keep_sending_mark=keep_sending_mark, code=exc.code or "transient")
    return False


def _hold_installation(tenant, team_id: str, reason: str) -> None:
    """Hold every waiting delivery of the tenant: its Slack token no longer works."""
    (Delivery.objects.for_tenant(tenant).filter(status__in=WAITING)
     .update(status=Delivery.Status.HELD, held_reason=reason[:64], held_at=timezone.now(),
             next_attempt_at=None, updated_at=timezone.now()))


def _hold_channel(tenant, team_id: str, channel_id: str, reason: str) -> None:
    """Hold the channel's waiting deliveries: the channel is gone, archived or closed to the bot."""
    (Delivery.objects.for_tenant(tenant).filter(slack_team_id=team_id, channel_id=channel_id, status__in=WAITING)
     .update(status=Delivery.Status.HELD, held_reason=reason[:64], held_at=timezone.now(),
             next_attempt_at=None, updated_at=timezone.now()))


def _attempt(delivery: Delivery, started, clock: float, outcome: str, *, exc=None, retry_after=None,
             next_in: float | None = None, task_id: str = "") -> DeliveryAttempt:
    return DeliveryAttempt.objects.create(
        tenant=delivery.tenant, delivery=delivery, started_at=started,
        duration_ms=int((time.monotonic() - clock) * 1000), outcome=outcome,
        error_code=(getattr(exc, "code", "") or "")[:64], http_status=getattr(exc, "http_status", None),
        retry_after=int(retry_after) if retry_after else None,
        next_attempt_at=timezone.now() + timezone.timedelta(seconds=next_in) if next_in is not None else None,
        task_id=task_id[:64],
    )

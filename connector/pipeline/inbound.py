"""Processing one inbound FreshBooks event: fetch and normalise, match the rules, create the deliveries.

Idempotent and safe under concurrent or repeated tasks: a worker first claims the event with a conditional
UPDATE (a lease), and every write is guarded by database constraints (dedupe key, one delivery per event
and channel).
"""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.counterparty_search import counterparty_index_record
from audit.models import Delivery, InboundEvent
from audit.services import inbound_index_fields
from connector.core.crypto import blind_index
from connector.core.events import FinancialEvent
from connector.pipeline.policy import CLAIM_LEASE, FRESHBOOKS_GIVE_UP_AFTER, freshbooks_retry_delay

logger = logging.getLogger(__name__)

PROCESSABLE = (InboundEvent.Status.RECEIVED, InboundEvent.Status.RETRYING)

# Why an inbound event or a delivery is held, in the words the dashboard shows.
HELD_FRESHBOOKS_REAUTH = "freshbooks_reauth"
HELD_FRESHBOOKS_NOT_CONNECTED = "freshbooks_not_connected"
HELD_SLACK_NOT_CONNECTED = "slack_not_connected"


@dataclass(frozen=True)
class Outcome:
    """What processing decided; `retry_in` set means: run again after that many seconds."""

    status: str
    retry_in: float | None = None
    channels: tuple[tuple[str, str], ...] = ()  # (team_id, channel_id) pairs to drain


def inbound_claim(*, inbound_event_id: int) -> bool:
    """Take the event for this worker for CLAIM_LEASE; False when it is not due or someone else has it."""
    now = timezone.now()
    claimed = (InboundEvent.objects
               .filter(pk=inbound_event_id, status__in=PROCESSABLE)
               .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
               .update(next_attempt_at=now + CLAIM_LEASE))
    return claimed == 1


def inbound_process(*, inbound_event_id: int) -> Outcome | None:
    """Process one inbound event if it is due. None when there was nothing to do."""
    from connector.freshbooks import errors as fb_errors
    from connector.freshbooks.normalise import normalise_inbound

    if not inbound_claim(inbound_event_id=inbound_event_id):
        return None
    event = InboundEvent.objects.select_related("tenant").get(pk=inbound_event_id)
    InboundEvent.objects.filter(pk=event.pk).update(attempts=event.attempts + 1)
    attempts = event.attempts + 1
    try:
        normalised = normalise_inbound(inbound_event=event)
    except fb_errors.AuthorizationLost as exc:
        return _set(event, InboundEvent.Status.HELD, HELD_FRESHBOOKS_REAUTH, str(exc))
    except fb_errors.RateLimited as exc:
        return _retry(event, attempts, exc.retry_after or freshbooks_retry_delay(attempts), "rate limited")
    except fb_errors.Transient as exc:
        return _retry(event, attempts, freshbooks_retry_delay(attempts), str(exc) or "FreshBooks unavailable")
    except fb_errors.FreshBooksError as exc:
        logger.error("inbound.failed", extra={"inbound_event_id": event.pk, "error": type(exc).__name__})
        return _set(event, InboundEvent.Status.FAILED, "", f"FreshBooks refused: {exc}")
    return _record(event, normalised)


def _set(event: InboundEvent, status: str, reason_code: str, reason: str) -> Outcome:
    InboundEvent.objects.filter(pk=event.pk).update(
        status=status, status_reason=(reason_code or reason)[:300], next_attempt_at=None)
    logger.info("inbound.%s", status, extra={"inbound_event_id": event.pk, "reason": reason_code or reason})
    return Outcome(status=status)


def _retry(event: InboundEvent, attempts: int, delay: float, reason: str) -> Outcome:
    if timezone.now() - event.received_at > FRESHBOOKS_GIVE_UP_AFTER:
        return _set(event, InboundEvent.Status.FAILED, "", f"gave up after {attempts} tries: {reason}")
    InboundEvent.objects.filter(pk=event.pk).update(
        status=InboundEvent.Status.RETRYING, status_reason=reason[:300],
        next_attempt_at=timezone.now() + timezone.timedelta(seconds=delay))
    return Outcome(status=InboundEvent.Status.RETRYING, retry_in=delay)


def _record(event: InboundEvent, normalised) -> Outcome:
    from routing.match import match
    from routing.selectors import rules_enabled

    fin: FinancialEvent = normalised.event
    tenant = event.tenant
    targets = match(rules_enabled(tenant=tenant), fin, base_currency=tenant.base_currency)
    installation = _slack_installation(tenant)
    try:
        with transaction.atomic():
            InboundEvent.objects.filter(pk=event.pk).update(
                dedupe_key=normalised.dedupe_key, fetched_object=normalised.fetched,
                financial_event=fin.to_dict(), **inbound_index_fields(fin),
                matched_rules=[{"id": r.pk, "name": r.name, "channel_id": t.channel_id}
                               for t in targets for r in t.rules],
                status=InboundEvent.Status.PROCESSED if targets else InboundEvent.Status.IGNORED,
                status_reason="" if targets else "No rule matched this event",
                processed_at=timezone.now(), next_attempt_at=None,
            )
            deliveries = [_delivery_for(event, fin, target, installation) for target in targets]
            Delivery.objects.bulk_create(deliveries)
            counterparty_index_record(tenant_id=tenant.pk, name=fin.counterparty,
                                      name_index=blind_index(fin.counterparty))
    except IntegrityError:
        # The dedupe key exists: the same create, or the same update stamp, was processed already.
        InboundEvent.objects.filter(pk=event.pk).update(
            status=InboundEvent.Status.DUPLICATE, next_attempt_at=None, processed_at=timezone.now(),
            status_reason="Same FreshBooks change as an event processed earlier")
        return Outcome(status=InboundEvent.Status.DUPLICATE)
    logger.info("inbound.processed", extra={"inbound_event_id": event.pk, "deliveries": len(deliveries)})
    return Outcome(status=InboundEvent.Status.PROCESSED,
                   channels=tuple({(d.slack_team_id, d.channel_id) for d in deliveries if d.slack_team_id}))


def _slack_installation(tenant):
    from connector.slack.models import SlackInstallation

    return SlackInstallation.objects.for_tenant(tenant).order_by("-installed_at").first()


def _delivery_for(event: InboundEvent, fin: FinancialEvent, target, installation) -> Delivery:
    from connector.slack.messages import build_message

    note = " ".join(dict.fromkeys(r.note.strip() for r in target.rules if getattr(r, "note", "").strip()))
    text, blocks = build_message(fin, business_name=event.tenant.name, note=note)
    delivery = Delivery(
        tenant=event.tenant, inbound_event=event, event_name=fin.event_name, object_id=fin.object_id,
        kind=str(fin.kind), action=str(fin.action), amount=fin.amount, currency=fin.currency or "",
        counterparty=fin.counterparty, counterparty_index=blind_index(fin.counterparty),
        document_number=fin.document_number, document_number_index=blind_index(fin.document_number),
        channel_id=target.channel_id, channel_name=target.channel_name,
        rule_ids=[r.pk for r in target.rules], message_text=text, message_blocks=blocks,
    )
    return delivery_attach_installation(delivery, installation)


def delivery_attach_installation(delivery: Delivery, installation) -> Delivery:
    """Point a new delivery at the tenant's Slack workspace, or hold it until Slack is connected."""
    from connector.slack.models import InstallationStatus

    if installation is None:
        delivery.slack_team_id = ""
        delivery.status = Delivery.Status.HELD
        delivery.held_reason = HELD_SLACK_NOT_CONNECTED
        delivery.held_at = timezone.now()
    elif installation.status != InstallationStatus.ACTIVE:
        delivery.slack_team_id = installation.team_id
        delivery.status = Delivery.Status.HELD
        delivery.held_reason = "token_revoked"
        delivery.held_at = timezone.now()
    else:
        delivery.slack_team_id = installation.team_id
    return delivery

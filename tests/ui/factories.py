"""Ledger rows for the dashboard tests: inbound events and deliveries, optionally back-dated."""

from datetime import datetime
from decimal import Decimal

from audit.models import Delivery, InboundEvent

_counter = iter(range(1, 10**9))


def inbound_event(*, tenant, name: str = "invoice.create", at: datetime | None = None,
                  status: str = InboundEvent.Status.PROCESSED) -> InboundEvent:
    n = next(_counter)
    event = InboundEvent.objects.create(tenant=tenant, name=name, object_id=str(1000 + n),
                                        raw_body=f"name={name}&object_id={1000 + n}", status=status)
    if at is not None:  # received_at is set on insert; back-date it for the charts
        InboundEvent.objects.filter(pk=event.pk).update(received_at=at)
        event.refresh_from_db()
    return event


def delivery(*, tenant, status: str = Delivery.Status.POSTED, at: datetime | None = None,
             event_name: str = "invoice.create", channel_id: str = "C0ACCOUNTS", channel_name: str = "accounting",
             held_reason: str = "", last_error_code: str = "", amount: str | None = "1250.00", counterparty: str = "Acme Plumbing Ltd",
             document_number: str = "INV-0042", inbound=None) -> Delivery:
    inbound = inbound or inbound_event(tenant=tenant, name=event_name, at=at)
    kind, action = event_name.split(".")
    d = Delivery.objects.create(
        tenant=tenant, inbound_event=inbound, event_name=event_name, object_id=inbound.object_id, kind=kind,
        action=action, amount=Decimal(amount) if amount else None, currency="USD", counterparty=counterparty,
        document_number=document_number, slack_team_id="T0TEAM", channel_id=channel_id,
        channel_name=channel_name, status=status, held_reason=held_reason, last_error_code=last_error_code,
    )
    if at is not None:
        Delivery.objects.filter(pk=d.pk).update(created_at=at)
        d.refresh_from_db()
    return d

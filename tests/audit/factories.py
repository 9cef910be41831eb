"""Factories for the ledger: inbound events, deliveries and attempts, made directly (no pipeline)."""

from decimal import Decimal

import factory
from django.utils import timezone

from audit.counterparty_search import counterparty_index_record
from audit.models import Delivery, DeliveryAttempt, InboundEvent
from connector.core.crypto import blind_index
from tests.factories import TenantFactory


class InboundEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InboundEvent

    tenant = factory.SubFactory(TenantFactory)
    name = "invoice.create"
    object_id = factory.Sequence(lambda n: str(100000 + n))
    account_id = "ACCT1"
    business_id = "42"
    raw_body = factory.LazyAttribute(
        lambda o: f"name={o.name}&object_id={o.object_id}&account_id={o.account_id}&business_id={o.business_id}"
                  f"&identity_id=7&user_id=1")
    status = InboundEvent.Status.PROCESSED


class DeliveryFactory(factory.django.DjangoModelFactory):
    """A delivery with its inbound event; counterparty/document_number set both value and blind index."""

    class Meta:
        model = Delivery

    class Params:
        counterparty_name = "Acme Trading Ltd"
        number = factory.Sequence(lambda n: f"INV-{n:05d}")

    tenant = factory.SubFactory(TenantFactory)
    inbound_event = factory.SubFactory(InboundEventFactory, tenant=factory.SelfAttribute("..tenant"),
                                       name=factory.SelfAttribute("..event_name"))
    event_name = "invoice.create"
    object_id = factory.SelfAttribute("inbound_event.object_id")
    kind = factory.LazyAttribute(lambda o: o.event_name.split(".")[0])
    action = factory.LazyAttribute(lambda o: {"create": "created", "update": "updated", "delete": "deleted",
                                              "sendByEmail": "sent"}[o.event_name.split(".")[1]])
    amount = Decimal("100.00")
    currency = "USD"
    counterparty = factory.SelfAttribute("counterparty_name")
    counterparty_index = factory.LazyAttribute(lambda o: blind_index(o.counterparty_name))
    document_number = factory.SelfAttribute("number")
    document_number_index = factory.LazyAttribute(lambda o: blind_index(o.number))
    slack_team_id = "T0001"
    channel_id = "C0SALES"
    channel_name = "sales"
    status = Delivery.Status.POSTED
    message_text = factory.LazyAttribute(lambda o: f"Invoice {o.number} for {o.counterparty_name}: {o.amount}")

    @classmethod
    def _create(cls, model_class, *args, created_at=None, **kwargs):
        delivery = super()._create(model_class, *args, **kwargs)
        # As the pipeline does when it processes the event: the name joins the "contains" search.
        counterparty_index_record(tenant_id=delivery.tenant_id, name=delivery.counterparty,
                                  name_index=delivery.counterparty_index)
        if created_at is not None:  # auto_now_add ignores a given value: set it afterwards
            model_class.objects.filter(pk=delivery.pk).update(created_at=created_at)
            delivery.created_at = created_at
        return delivery


class DeliveryAttemptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeliveryAttempt

    delivery = factory.SubFactory(DeliveryFactory)
    tenant = factory.SelfAttribute("delivery.tenant")
    started_at = factory.LazyFunction(timezone.now)
    duration_ms = 120
    outcome = DeliveryAttempt.Outcome.POSTED

"""Factories for every model the tests make: tenants and users, Slack, the ledger, routing rules."""

from datetime import datetime, timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from audit.models import Delivery, DeliveryAttempt, InboundEvent
from connector.core.crypto import blind_index
from connector.core.events import SUPPORTED_EVENTS, FinancialEvent
from connector.slack.models import InstallationStatus, SlackChannel, SlackInstallation
from routing.models import Rule
from tenants.models import Membership, Role, Tenant


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    username = factory.SelfAttribute("email")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805 - factory_boy hook signature
        if create:
            obj.save()


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Business {n}")
    slug = factory.Sequence(lambda n: f"business-{n}")
    base_currency = "USD"

    @factory.lazy_attribute
    def webhook_token_hash(self):
        return ""

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        tenant = model_class(*args, **kwargs)
        tenant.set_webhook_token()
        tenant.save()
        return tenant


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.OWNER


# Slack


class SlackInstallationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SlackInstallation

    tenant = factory.SubFactory(TenantFactory)
    team_id = "T0TEAM"
    team_name = "Acme Workspace"
    app_id = "A0APP"
    bot_user_id = "U0BOT"
    bot_id = "B0BOT"
    scopes = "chat:write,chat:write.public,channels:read,groups:read,channels:history,groups:history"
    bot_token = "xoxb-stored-token"
    refresh_token = ""
    expires_at = None
    installed_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    status = InstallationStatus.ACTIVE


class SlackChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SlackChannel

    installation = factory.SubFactory(SlackInstallationFactory)
    tenant = factory.SelfAttribute("installation.tenant")
    channel_id = factory.Sequence(lambda n: f"C{n:07d}")
    name = factory.Sequence(lambda n: f"channel-{n}")
    refreshed_at = factory.LazyFunction(timezone.now)


# The ledger


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


# Ledger rows for the dashboard's pages, optionally back-dated

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


# Routing


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rule

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Rule {n}")
    events = factory.LazyFunction(lambda: ["invoice.create"])
    channel_id = "C0ACCOUNTS"
    channel_name = "accounting"
    position = factory.Sequence(lambda n: n)


def draft_rule(**fields) -> Rule:
    """An unsaved rule with no conditions beyond its events (invoice created unless given)."""
    fields.setdefault("events", ["invoice.create"])
    fields.setdefault("channel_id", "C0ACCOUNTS")
    fields.setdefault("channel_name", "accounting")
    for name in ("min_amount", "max_amount"):
        if fields.get(name) is not None:
            fields[name] = Decimal(str(fields[name]))
    return Rule(**fields)


def financial_event(name: str = "invoice.create", **fields) -> FinancialEvent:
    """A FinancialEvent of that FreshBooks event name; amount given as text or number."""
    kind, action = SUPPORTED_EVENTS[name]
    if fields.get("amount") is not None:
        fields["amount"] = Decimal(str(fields["amount"]))
    fields.setdefault("object_id", "1001")
    return FinancialEvent(event_name=name, kind=kind, action=action, **fields)

"""Factories for routing: saved rules, and unsaved rules and events for the pure matcher."""

from decimal import Decimal

import factory

from connector.core.events import SUPPORTED_EVENTS, FinancialEvent
from routing.models import Rule
from tests.factories import TenantFactory


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

"""Which channels one FinancialEvent reaches: a pure function of the rules and the event.

Semantics:
- every enabled rule that matches delivers to its channel; a disabled rule never matches;
- one Target per channel however many rules name it, with every rule that chose it;
- a rule's conditions are all optional and combined with AND:
  - events: the event's FreshBooks name is one of the rule's events (a rule with no events matches nothing);
  - currency, when set: the event is in that currency;
  - amount bounds (inclusive): the event has an amount, in the rule's currency (the tenant's base currency
    when the rule names none), within the bounds; so a USD threshold is never tripped by a EUR invoice;
  - counterparty contains: case-insensitive substring of the event's counterparty;
  - expense categories in / not in, and "has a client": only constrain expense events;
  - statuses: the event's status is one of them (case-insensitive);
  - status changed only: an update event matches only when its status changed.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from connector.core.events import Action, FinancialEvent, Kind


class RuleLike(Protocol):
    """What matching reads of a rule: routing.models.Rule, saved or a draft."""

    enabled: bool
    events: list[str]
    min_amount: object
    max_amount: object
    currency: str | None
    counterparty_contains: str
    expense_categories_in: list[str]
    expense_categories_not_in: list[str]
    has_client: bool | None
    statuses: list[str]
    status_changed_only: bool
    channel_id: str
    channel_name: str


@dataclass
class Target:
    channel_id: str
    channel_name: str
    rules: list = field(default_factory=list)


def _folded(values: Iterable[str]) -> set[str]:
    return {v.strip().casefold() for v in values if v and v.strip()}


def rule_matches(rule: RuleLike, event: FinancialEvent, *, base_currency: str) -> bool:
    """Whether this one rule selects this event (disabled rules never do)."""
    if not rule.enabled or event.event_name not in (rule.events or ()):
        return False
    event_currency = (event.currency or "").upper()
    if rule.currency and event_currency != rule.currency.upper():
        return False
    if rule.min_amount is not None or rule.max_amount is not None:
        if event.amount is None or event_currency != (rule.currency or base_currency).upper():
            return False
        if rule.min_amount is not None and event.amount < rule.min_amount:
            return False
        if rule.max_amount is not None and event.amount > rule.max_amount:
            return False
    if rule.counterparty_contains and \
            rule.counterparty_contains.strip().casefold() not in (event.counterparty or "").casefold():
        return False
    if event.kind == Kind.EXPENSE:
        category = (event.category or "").strip().casefold()
        wanted = _folded(rule.expense_categories_in or ())
        if wanted and category not in wanted:
            return False
        if category and category in _folded(rule.expense_categories_not_in or ()):
            return False
        if rule.has_client is not None and event.has_client is not rule.has_client:
            return False
    statuses = _folded(rule.statuses or ())
    if statuses and (event.status or "").strip().casefold() not in statuses:
        return False
    return not (rule.status_changed_only and event.action == Action.UPDATED and not event.status_changed)


def match(rules: Iterable[RuleLike], event: FinancialEvent, *, base_currency: str) -> list[Target]:
    """One Target per channel that at least one enabled rule chooses for the event.

    Targets come in the order of the first rule choosing each channel, and each Target lists its rules in
    the order given (rules_enabled() gives them by position), so the result is stable for a stable input.
    """
    targets: dict[str, Target] = {}
    for rule in rules:
        if not rule_matches(rule, event, base_currency=base_currency):
            continue
        target = targets.get(rule.channel_id)
        if target is None:
            target = targets[rule.channel_id] = Target(channel_id=rule.channel_id, channel_name=rule.channel_name)
        target.rules.append(rule)
    return list(targets.values())

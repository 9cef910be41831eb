"""Reads of routing rules, and the preview of a draft rule over the tenant's recent events."""

import copy
from dataclasses import dataclass, field
from datetime import datetime

from audit.models import InboundEvent
from connector.core.events import DIGEST_EVENT, FinancialEvent
from routing.match import match, rule_matches
from routing.models import Rule
from tenants.models import Tenant

PREVIEW_EVENT_LIMIT = 200  # how many of the tenant's latest normalised events a preview replays


def rule_list(*, tenant: Tenant):
    """All the tenant's rules, in order (position, then creation)."""
    return Rule.objects.for_tenant(tenant).order_by("position", "id")


def rules_enabled(*, tenant: Tenant) -> list[Rule]:
    """The rules the pipeline matches events against, in order."""
    return list(rule_list(tenant=tenant).filter(enabled=True))


@dataclass
class PreviewMatch:
    inbound_event_id: int
    received_at: datetime
    event: FinancialEvent
    channel_id: str
    channel_name: str
    # [(channel_id, channel_name)] the tenant's other enabled rules send the same event to.
    other_channels: list[tuple[str, str]] = field(default_factory=list)

    @property
    def also_sent_there(self) -> bool:
        return any(channel_id == self.channel_id for channel_id, _ in self.other_channels)


@dataclass
class Preview:
    checked: int  # how many stored events were replayed
    matches: list[PreviewMatch]
    draft_disabled: bool  # the draft is disabled: the matches say what it would catch once enabled


def _recent_events(*, tenant: Tenant, limit: int):
    rows = (InboundEvent.objects.for_tenant(tenant).filter(financial_event__isnull=False)
            .exclude(name=DIGEST_EVENT)  # a digest is no FreshBooks event: no rule routes it
            .order_by("-received_at", "-id").only("id", "received_at", "financial_event")[:limit])
    for row in rows:
        try:
            yield row, FinancialEvent.from_dict(row.financial_event)
        except (KeyError, TypeError, ValueError, ArithmeticError):
            continue  # a stored event this version cannot read: nothing to show for it


def rule_preview(*, tenant: Tenant, draft: Rule, limit: int = PREVIEW_EVENT_LIMIT) -> Preview:
    """Replays the tenant's latest stored events through the (unsaved) draft rule, newest first.

    The draft is judged as if enabled. When it edits a saved rule, that rule's saved version is left out
    of the "other rules" so the preview shows the world after saving.
    """
    probe = copy.copy(draft)
    probe.enabled = True
    others = [r for r in rules_enabled(tenant=tenant) if draft.pk is None or r.pk != draft.pk]
    base_currency = tenant.base_currency
    checked, matches = 0, []
    for row, event in _recent_events(tenant=tenant, limit=limit):
        checked += 1
        if not rule_matches(probe, event, base_currency=base_currency):
            continue
        other_targets = match(others, event, base_currency=base_currency)
        matches.append(PreviewMatch(
            inbound_event_id=row.pk, received_at=row.received_at, event=event,
            channel_id=probe.channel_id, channel_name=probe.channel_name,
            other_channels=[(t.channel_id, t.channel_name) for t in other_targets],
        ))
    return Preview(checked=checked, matches=matches, draft_disabled=not draft.enabled)

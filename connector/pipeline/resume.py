"""Releasing held work once its cause is gone: Slack reinstalled, a rule's channel changed or fixed,
FreshBooks reconnected. Each is safe to call any number of times."""

import logging

from django.db import transaction

from audit import ledger
from audit.models import Delivery, HeldReason
from connector.pipeline.doorbell import channel_kick
from connector.pipeline.inbox import inbox_push_many
from connector.slack.models import SlackInstallation
from connector.slack.selectors import installation_active
from routing.models import Rule
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def resume_slack_holds(*, tenant: Tenant, installation: SlackInstallation | None = None) -> int:
    """The tenant (re)installed Slack: release what a dead or missing installation held, in order."""
    installation = installation or installation_active(tenant=tenant)
    if installation is None or not installation.is_active:
        return 0
    held = ledger.deliveries_held(tenant=tenant, reasons=ledger.SLACK_HOLDS)
    count = ledger.deliveries_release(held=held, slack_team_id=installation.team_id)
    for channel_id in (Delivery.objects.for_tenant(tenant).filter(status=Delivery.Status.PENDING)
                       .order_by().values_list("channel_id", flat=True).distinct()):
        channel_kick(installation.team_id, channel_id)
    logger.info("resume.slack", extra={"tenant": tenant.slug, "released": count})
    return count


def resume_channel_holds(*, tenant: Tenant, old_channel_id: str, new_channel_id: str | None = None,
                         new_channel_name: str = "") -> int:
    """Release the deliveries held for a broken channel: to the rule's new channel if it changed,
    or to the same channel once it works again. Oldest first, as they were."""
    target = new_channel_id or old_channel_id
    held = list(ledger.deliveries_held(tenant=tenant, reasons=[HeldReason.CHANNEL_UNUSABLE])
                .filter(channel_id=old_channel_id).order_by("id"))
    released, team_ids = 0, set()
    for delivery in held:
        moves = {}
        if target != old_channel_id:
            moves = {"channel_id": target, "channel_name": new_channel_name or delivery.channel_name}
        if ledger.delivery_release(delivery, **moves):
            released += 1
            team_ids.add(delivery.slack_team_id)
    for team_id in team_ids:
        channel_kick(team_id, target)
    logger.info("resume.channel", extra={"tenant": tenant.slug, "channel": old_channel_id, "released": released})
    return released


def resume_holds_of_moved_rules(*, tenant: Tenant, channel_id: str) -> int:
    """Deliveries held for a broken channel whose rules all name one other channel now: they follow the rules
    there. A rule changed while they were still on their way (or released for a moment by the sweep's probe)
    found nothing held to move; the hold that came after must not keep them from the rule's new channel."""
    held = ledger.deliveries_held(tenant=tenant, reasons=[HeldReason.CHANNEL_UNUSABLE]).filter(channel_id=channel_id)
    # A channel's held posts share a few lists of rules, however many they are: read each list once.
    rule_ids = {pk for ids in held.order_by().values_list("rule_ids", flat=True).distinct() for pk in ids}
    targets = set(Rule.objects.for_tenant(tenant).filter(pk__in=rule_ids).values_list("channel_id", "channel_name"))
    if len({target_id for target_id, _ in targets}) != 1:
        return 0
    [(target_id, target_name), *_] = targets
    if target_id == channel_id:
        return 0
    return resume_channel_holds(tenant=tenant, old_channel_id=channel_id, new_channel_id=target_id,
                                new_channel_name=target_name)


def resume_freshbooks_holds(*, tenant: Tenant) -> int:
    """FreshBooks reconnected: process the inbound events that waited for it."""
    ids = ledger.inbound_release_freshbooks_holds(tenant=tenant)
    transaction.on_commit(lambda: inbox_push_many(tenant.pk, ids))
    logger.info("resume.freshbooks", extra={"tenant": tenant.slug, "released": len(ids)})
    return len(ids)

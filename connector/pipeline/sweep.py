"""The sweep: the database is the truth and the broker only a doorbell. Every minute (beat, or the `sweep`
command) it re-rings for work whose task was lost, and releases holds whose cause is gone."""

import logging
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from audit import ledger
from audit.models import Delivery, HeldReason, InboundEvent
from connector.freshbooks.models import FreshBooksConnection
from connector.pipeline import pacing
from connector.pipeline.doorbell import channel_kick
from connector.pipeline.inbox import inbox_requeue
from connector.pipeline.policy import CHANNEL_PROBE_INTERVAL, SWEEP_GRACE
from connector.pipeline.resume import (
    resume_channel_holds,
    resume_freshbooks_holds,
    resume_holds_of_moved_rules,
    resume_slack_holds,
)
from connector.slack.client import slack_channel_usable
from connector.slack.errors import SlackError
from connector.slack.selectors import installation_active
from tenants.models import Tenant

logger = logging.getLogger(__name__)


@dataclass
class SweepReport:
    inbound_requeued: int = 0
    channels_kicked: int = 0
    channels_probed: int = 0
    holds_released: int = 0


def sweep_run() -> SweepReport:
    report = SweepReport()
    now = timezone.now()
    stale = now - SWEEP_GRACE
    inbound = (InboundEvent.objects
               .filter(status__in=[InboundEvent.Status.RECEIVED, InboundEvent.Status.RETRYING])
               .filter(Q(next_attempt_at__isnull=True, received_at__lte=stale) | Q(next_attempt_at__lte=now))
               .order_by("id").values_list("tenant_id", "id")[:5000])
    by_tenant: dict[int, list[int]] = defaultdict(list)
    for tenant_id, pk in inbound:
        by_tenant[tenant_id].append(pk)
    for tenant_id, ids in by_tenant.items():  # through the inboxes, so the tenants take turns (inbox.py)
        report.inbound_requeued += inbox_requeue(tenant_id, ids)

    channels = (Delivery.objects.filter(status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING])
                .exclude(slack_team_id="")
                .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
                .order_by().values_list("slack_team_id", "channel_id").distinct())  # no ordering: one row per channel
    for team_id, channel_id in channels:
        channel_kick(team_id, channel_id)
        report.channels_kicked += 1

    report.holds_released += _release_resolved_holds(report)
    if any(vars(report).values()):
        logger.info("sweep.done", extra=vars(report))
    return report


def _release_resolved_holds(report: SweepReport) -> int:
    """Slack reinstalled, FreshBooks reconnected, or a held channel usable again: let the work go."""
    released = 0
    tenant_ids = (Delivery.objects.filter(status=Delivery.Status.HELD, held_reason__in=ledger.SLACK_HOLDS)
                  .order_by().values_list("tenant_id", flat=True).distinct())
    for tenant in Tenant.objects.filter(pk__in=list(tenant_ids)):
        released += resume_slack_holds(tenant=tenant)

    held_fb = (InboundEvent.objects
               .filter(status=InboundEvent.Status.HELD, status_reason__in=ledger.FRESHBOOKS_HOLDS).order_by().values_list("tenant_id", flat=True).distinct())
    for tenant in Tenant.objects.filter(pk__in=list(held_fb)):
        if FreshBooksConnection.objects.for_tenant(tenant).filter(status=FreshBooksConnection.Status.ACTIVE).exists():
            released += resume_freshbooks_holds(tenant=tenant)

    broken = (Delivery.objects.filter(status=Delivery.Status.HELD, held_reason=HeldReason.CHANNEL_UNUSABLE)
              .order_by().values_list("tenant_id", "slack_team_id", "channel_id").distinct())
    for tenant_id, team_id, channel_id in broken:
        tenant = Tenant.objects.get(pk=tenant_id)
        moved = resume_holds_of_moved_rules(tenant=tenant, channel_id=channel_id)
        if moved:
            released += moved
            continue
        if not pacing.probe_due(team_id, channel_id, int(CHANNEL_PROBE_INTERVAL.total_seconds())):
            continue
        installation = installation_active(tenant=tenant)
        if installation is None or installation.team_id != team_id:
            continue
        report.channels_probed += 1
        try:
            usable = slack_channel_usable(installation=installation, channel_id=channel_id)
        except SlackError:
            continue
        if usable:
            released += resume_channel_holds(tenant=tenant, old_channel_id=channel_id)
    return released

"""Releasing held work once its cause is gone: Slack reinstalled, a rule's channel changed or fixed,
FreshBooks reconnected. Each is safe to call any number of times."""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import Delivery, InboundEvent
from connector.pipeline.inbound import (
    HELD_FRESHBOOKS_NOT_CONNECTED,
    HELD_FRESHBOOKS_REAUTH,
    HELD_SLACK_NOT_CONNECTED,
)

logger = logging.getLogger(__name__)


def _codes_of(error_class) -> set[str]:
    from connector.slack.errors import ERROR_CLASSES

    return {code for code, cls in ERROR_CLASSES.items() if issubclass(cls, error_class)}


def installation_dead_codes() -> set[str]:
    """Held reasons that a working installation resolves."""
    from connector.slack.errors import InstallationDead

    return _codes_of(InstallationDead) | {HELD_SLACK_NOT_CONNECTED}


def destination_broken_codes() -> set[str]:
    """Held reasons that a working channel resolves."""
    from connector.slack.errors import DestinationBroken

    return _codes_of(DestinationBroken)


def resume_slack_holds(*, tenant, installation=None) -> int:
    """The tenant (re)installed Slack: release what a dead or missing installation held, in order."""
    from connector.pipeline.tasks import channel_kick
    from connector.slack.models import InstallationStatus, SlackInstallation

    installation = installation or (SlackInstallation.objects.for_tenant(tenant)
                                    .order_by("-installed_at").first())
    if installation is None or installation.status != InstallationStatus.ACTIVE:
        return 0
    held = Delivery.objects.for_tenant(tenant).filter(status=Delivery.Status.HELD,
                                                      held_reason__in=installation_dead_codes())
    count = held.update(status=Delivery.Status.PENDING, held_reason="", held_at=None, next_attempt_at=None,
                        slack_team_id=installation.team_id, updated_at=timezone.now())
    for channel_id in (Delivery.objects.for_tenant(tenant).filter(status=Delivery.Status.PENDING)
                       .order_by().values_list("channel_id", flat=True).distinct()):
        channel_kick(installation.team_id, channel_id)
    logger.info("resume.slack", extra={"tenant": tenant.slug, "released": count})
    return count


def resume_channel_holds(*, tenant, old_channel_id: str, new_channel_id: str | None = None,
                         new_channel_name: str = "") -> int:
    """Release the deliveries held for a broken channel: to the rule's new channel if it changed,
    or to the same channel once it works again. Oldest first, as they were."""
    from connector.pipeline.tasks import channel_kick

    target = new_channel_id or old_channel_id
    held = list(Delivery.objects.for_tenant(tenant)
                .filter(status=Delivery.Status.HELD, channel_id=old_channel_id,
                        held_reason__in=destination_broken_codes()).order_by("id"))
    released, team_ids = 0, set()
    for delivery in held:
        changes = {"status": Delivery.Status.PENDING, "held_reason": "", "held_at": None,
                   "next_attempt_at": None, "updated_at": timezone.now()}
        if target != old_channel_id:
            changes.update(channel_id=target, channel_name=new_channel_name or delivery.channel_name)
        try:
            with transaction.atomic():
                Delivery.objects.filter(pk=delivery.pk).update(**changes)
        except IntegrityError:
            # This event already has a delivery for the new channel: it reaches that channel once, there.
            Delivery.objects.filter(pk=delivery.pk).update(
                status=Delivery.Status.FAILED, last_error_code="already_routed_to_channel",
                updated_at=timezone.now())
            continue
        released += 1
        team_ids.add(delivery.slack_team_id)
    for team_id in team_ids:
        channel_kick(team_id, target)
    logger.info("resume.channel", extra={"tenant": tenant.slug, "channel": old_channel_id, "released": released})
    return released


def resume_freshbooks_holds(*, tenant) -> int:
    """FreshBooks reconnected: process the inbound events that waited for it."""
    from connector.pipeline.tasks import process_event

    ids = list(InboundEvent.objects.for_tenant(tenant)
               .filter(status=InboundEvent.Status.HELD,
                       status_reason__in=[HELD_FRESHBOOKS_REAUTH, HELD_FRESHBOOKS_NOT_CONNECTED])
               .order_by("id").values_list("id", flat=True))
    InboundEvent.objects.filter(pk__in=ids).update(status=InboundEvent.Status.RECEIVED, status_reason="",
                                                  next_attempt_at=None)
    for pk in ids:
        transaction.on_commit(lambda pk=pk: process_event.delay(pk))
    logger.info("resume.freshbooks", extra={"tenant": tenant.slug, "released": len(ids)})
    return len(ids)

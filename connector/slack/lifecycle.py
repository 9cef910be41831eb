"""State changes of an installation (saved active, marked revoked) and the signals they send.

Kept apart from services.py because the client records a dead installation and must not import the
services that call it.
"""

import logging
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.activity import activity_record
from connector.slack.models import InstallationStatus, SlackChannel, SlackInstallation
from connector.slack.signals import installation_reactivated, installation_revoked
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def installation_save(*, tenant: Tenant, team_id: str, team_name: str, bot_token: str, bot_user_id: str,
                      bot_id: str, scopes: str, app_id: str = "", enterprise_id: str = "",
                      refresh_token: str = "", expires_in: int | None = None, installed_by=None,
                      source: str = "oauth") -> SlackInstallation:
    """Create or update the tenant's installation as active, then send installation_reactivated.

    A reinstall into a different workspace forgets the old workspace's channels (their ids mean nothing
    in the new one).
    """
    now = timezone.now()
    with transaction.atomic():
        installation = SlackInstallation.objects.for_tenant(tenant).select_for_update().first()
        created = installation is None
        was_revoked = not created and not installation.is_active
        team_changed = not created and installation.team_id != team_id
        if created:
            installation = SlackInstallation(tenant=tenant)
        installation.team_id = team_id
        installation.team_name = team_name or installation.team_name
        installation.app_id = app_id
        installation.enterprise_id = enterprise_id
        installation.bot_user_id = bot_user_id
        installation.bot_id = bot_id
        installation.scopes = scopes
        installation.bot_token = bot_token
        installation.refresh_token = refresh_token or ""
        installation.expires_at = now + timedelta(seconds=int(expires_in)) if expires_in else None
        installation.installed_at = now
        installation.installed_by = installed_by if getattr(installed_by, "pk", None) else None
        installation.status = InstallationStatus.ACTIVE
        installation.status_reason = ""
        installation.revoked_at = None
        installation.save()
        if team_changed:
            SlackChannel.objects.for_tenant(tenant).delete()
        activity_record(tenant=tenant, actor=installed_by, action="slack.installed", target=team_id,
                        details={"team_name": team_name, "source": source, "reinstall": not created,
                                 "was_revoked": was_revoked, "scopes": scopes})
        transaction.on_commit(lambda: installation_reactivated.send(
            sender=SlackInstallation, tenant=tenant, installation=installation, was_revoked=was_revoked))
    logger.info("slack.installed", extra={"tenant_id": tenant.pk, "team_id": team_id, "source": source,
                                          "was_revoked": was_revoked})
    return installation


def installation_mark_revoked(*, installation: SlackInstallation, reason: str, actor=None,
                              clear_tokens: bool = False) -> bool:
    """Mark the installation revoked (idempotent) and send installation_revoked. False if it already was."""
    with transaction.atomic():
        row = SlackInstallation.objects.select_for_update().get(pk=installation.pk)
        if not row.is_active:
            return False
        row.status = InstallationStatus.REVOKED
        row.status_reason = reason[:100]
        row.revoked_at = timezone.now()
        fields = ["status", "status_reason", "revoked_at", "updated_at"]
        if clear_tokens:
            row.bot_token = ""
            row.refresh_token = ""
            row.expires_at = None
            fields += ["bot_token", "refresh_token", "expires_at"]
        row.save(update_fields=fields)
        activity_record(tenant=row.tenant, actor=actor, action="slack.revoked", target=row.team_id,
                        details={"reason": reason})
        tenant = row.tenant
        transaction.on_commit(lambda: installation_revoked.send(
            sender=SlackInstallation, tenant=tenant, installation=row, reason=reason))
    for field in ("status", "status_reason", "revoked_at", "bot_token", "refresh_token", "expires_at"):
        setattr(installation, field, getattr(row, field))
    logger.info("slack.revoked", extra={"tenant_id": row.tenant_id, "team_id": row.team_id, "reason": reason})
    return True


def installations_revoke_for_team(*, team_id: str, event_time: int | float | None, reason: str,
                                  bot_user_ids: list[str] | None = None) -> int:
    """Slack says the app's token in `team_id` is gone (Events API). Marks every active installation of
    that workspace revoked, except one installed after the event happened (a late event about an earlier
    install). With `bot_user_ids`, only installations whose bot is one of them. Returns how many changed.

    event_time has whole seconds: an event in the same second as a reinstall is taken as older. If that
    guess is wrong the next post answers token_revoked and the installation is marked then.
    """
    happened = datetime.fromtimestamp(float(event_time), tz=UTC) if event_time else None
    candidates = SlackInstallation.objects.filter(team_id=team_id, status=InstallationStatus.ACTIVE)
    if bot_user_ids is not None:
        # An installation whose bot user id we never learned is matched by its workspace alone.
        candidates = candidates.filter(Q(bot_user_id__in=bot_user_ids) | Q(bot_user_id=""))
    changed = 0
    for installation in candidates:
        if happened is not None and happened < installation.installed_at:
            logger.info("slack.revocation_ignored_older_than_install",
                        extra={"tenant_id": installation.tenant_id, "team_id": team_id})
            continue
        changed += installation_mark_revoked(installation=installation, reason=reason)
    return changed

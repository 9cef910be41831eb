"""What people do with Slack: install, connect a given token, test, send a test message, refresh
channels, uninstall. Views and the connect_slack command stay thin and call these."""

import contextlib
import logging

from django.db import transaction
from django.utils import timezone

from audit.activity import activity_record
from connector.core.errors import ApplicationError
from connector.slack import client
from connector.slack.errors import InstallationDead, SlackError
from connector.slack.lifecycle import installation_mark_revoked, installation_save
from connector.slack.messages import build_test_message
from connector.slack.models import SlackChannel, SlackInstallation
from connector.slack.oauth import oauth_redirect_uri
from connector.slack.selectors import channel_resolve, installation_active
from tenants.models import Tenant

logger = logging.getLogger(__name__)

UNINSTALLED = "uninstalled"  # status_reason when someone removes the app from our UI


def _require_active(tenant: Tenant) -> SlackInstallation:
    installation = installation_active(tenant=tenant)
    if installation is None:
        raise ApplicationError("Slack is not connected. Add ml-connector to Slack first.", status=409)
    return installation


def slack_install_complete(*, tenant: Tenant, code: str, user) -> SlackInstallation:
    """Finish Add to Slack: exchange the code, look up the bot, store the installation, list channels.

    Raises SlackError (Slack refused or is unreachable) or ApplicationError (an answer we cannot use).
    """
    granted = client.slack_oauth_exchange(code=code, redirect_uri=oauth_redirect_uri())
    token = granted.get("access_token") or ""
    if granted.get("token_type") not in (None, "bot") or not token:
        raise ApplicationError("Slack did not give ml-connector a bot token. Try adding it again.")
    team = granted.get("team") or {}
    identity = client.slack_auth_test(token=token)
    installation = installation_save(
        tenant=tenant, team_id=team.get("id") or identity.get("team_id", ""),
        team_name=team.get("name") or identity.get("team", ""), bot_token=token,
        bot_user_id=granted.get("bot_user_id") or identity.get("user_id", ""),
        bot_id=identity.get("bot_id", ""), scopes=granted.get("scope", ""), app_id=granted.get("app_id", ""),
        enterprise_id=(granted.get("enterprise") or {}).get("id", ""),
        refresh_token=granted.get("refresh_token", ""), expires_in=granted.get("expires_in"),
        installed_by=user, source="oauth",
    )
    _refresh_channels_quietly(tenant=tenant)
    return installation


def slack_connect_token(*, tenant: Tenant, bot_token: str, team_id: str, team_name: str = "",
                        actor=None) -> SlackInstallation:
    """Store a bot token given by an operator (connect_slack), checked with auth.test like an install.

    Raises SlackError when Slack refuses the token or cannot be reached, ApplicationError when the token
    belongs to another workspace than `team_id`.
    """
    identity = client.slack_auth_test(token=bot_token)
    if identity.get("team_id") and identity["team_id"] != team_id:
        raise ApplicationError(f"That token belongs to workspace {identity['team_id']}, not {team_id}.")
    installation = installation_save(
        tenant=tenant, team_id=team_id, team_name=team_name or identity.get("team", ""), bot_token=bot_token,
        bot_user_id=identity.get("user_id", ""), bot_id=identity.get("bot_id", ""),
        scopes=identity.get("scopes", ""), installed_by=actor, source="connect_slack",
    )
    _refresh_channels_quietly(tenant=tenant)
    return installation


def _refresh_channels_quietly(*, tenant: Tenant) -> None:
    """Listing channels right after an install is a convenience: a failure leaves "Refresh channels"."""
    try:
        slack_channels_refresh(tenant=tenant)
    except SlackError as exc:
        logger.info("slack.channel_refresh_after_install_failed", extra={"tenant_id": tenant.pk,
                                                                         "error_code": exc.code})


def slack_channels_refresh(*, tenant: Tenant, use_cache: bool = False) -> list[SlackChannel]:
    """Replace the tenant's channel rows with what Slack lists now (renames picked up by id)."""
    installation = _require_active(tenant)
    listed = client.slack_list_channels(installation=installation, use_cache=use_cache)
    now = timezone.now()
    rows = [SlackChannel(tenant=tenant, installation=installation, channel_id=ch["id"], name=ch["name"],
                         is_private=ch["is_private"], is_archived=ch["is_archived"], is_member=ch["is_member"],
                         refreshed_at=now) for ch in listed]
    with transaction.atomic():
        SlackChannel.objects.for_tenant(tenant).exclude(channel_id__in=[ch["id"] for ch in listed]).delete()
        SlackChannel.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["tenant", "channel_id"],
            update_fields=["installation", "name", "is_private", "is_archived", "is_member", "refreshed_at",
                           "updated_at"],
        )
    return list(SlackChannel.objects.for_tenant(tenant).order_by("name"))


def slack_connection_test(*, tenant: Tenant) -> dict:
    """auth.test with the stored token; raises SlackError with Slack's answer."""
    return client.slack_test_connection(installation=_require_active(tenant))


def slack_test_message_send(*, tenant: Tenant, channel_id: str, actor) -> client.PostResult:
    """Post a short hello to one of the tenant's channels, so people see where messages will land."""
    installation = _require_active(tenant)
    channel = channel_resolve(tenant=tenant, channel_id=channel_id)
    if channel is None:
        raise ApplicationError("Pick one of your workspace's channels (refresh the list if it is new).")
    text, blocks = build_test_message(business_name=tenant.name, sender=getattr(actor, "email", ""))
    result = client.slack_post_message(installation=installation, channel_id=channel.channel_id, text=text,
                                       blocks=blocks, metadata={"test_message": True})
    activity_record(tenant=tenant, actor=actor, action="slack.test_message_sent", target=channel.channel_id)
    return result


def slack_uninstall(*, tenant: Tenant, actor) -> SlackInstallation:
    """Revoke the bot token at Slack, then mark the installation revoked (held deliveries wait for a
    reinstall). A token Slack already considers dead counts as revoked; if Slack cannot be reached,
    nothing changes and the error tells the user to try again."""
    installation = _require_active(tenant)
    with contextlib.suppress(InstallationDead):  # already revoked or uninstalled at Slack: that is the goal
        client.slack_auth_revoke(installation=installation)
    installation_mark_revoked(installation=installation, reason=UNINSTALLED, actor=actor, clear_tokens=True)
    client.slack_forget_channels(installation=installation)
    return installation

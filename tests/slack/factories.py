"""Factories for the Slack side's models."""

from datetime import timedelta

import factory
from django.utils import timezone

from connector.slack.models import InstallationStatus, SlackChannel, SlackInstallation
from tests.factories import TenantFactory


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

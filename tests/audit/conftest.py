"""Audit test fixtures: the tenant's Slack workspace, so that replays go through the real pipeline."""

import pytest

from tests.factories import SlackChannelFactory, SlackInstallationFactory

UNKNOWN_CHANNEL = "CUNKNOWN"  # not a channel of the tenant's workspace: the pipeline refuses to replay to it


@pytest.fixture
def slack_workspace(tenant):
    """The tenant's connected workspace (the team of DeliveryFactory) with its #sales and #bills."""
    installation = SlackInstallationFactory(tenant=tenant, team_id="T0001")
    SlackChannelFactory(installation=installation, channel_id="C0SALES", name="sales")
    SlackChannelFactory(installation=installation, channel_id="C0BILLS", name="bills")
    return installation

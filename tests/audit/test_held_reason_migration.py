"""The data migration to one HeldReason: Slack codes stored as held reasons become their reason, the code
moves to last_error_code (where the dashboard's per-code words find it), and going back restores them."""

import importlib

import pytest
from django.apps import apps

from audit.models import Delivery, HeldReason
from tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("audit.migrations.0005_house_held_reason")


def test_stored_slack_codes_map_to_their_reason_and_back(tenant):
    # Given deliveries held the old way (the Slack code as the reason), and one held for a missing Slack
    channel = DeliveryFactory(tenant=tenant, status="held", held_reason="is_archived")
    revoked = DeliveryFactory(tenant=tenant, status="held", held_reason="token_revoked")
    uninstalled = DeliveryFactory(tenant=tenant, status="held", held_reason="uninstalled")
    waiting = DeliveryFactory(tenant=tenant, status="held", held_reason="slack_not_connected")
    posted = DeliveryFactory(tenant=tenant, status="posted")

    migration.forwards(apps, None)

    rows = dict(Delivery.objects.values_list("pk", "held_reason"))
    codes = dict(Delivery.objects.values_list("pk", "last_error_code"))
    assert (rows[channel.pk], codes[channel.pk]) == (HeldReason.CHANNEL_UNUSABLE, "is_archived")
    assert (rows[revoked.pk], codes[revoked.pk]) == (HeldReason.SLACK_ACCESS_LOST, "token_revoked")
    assert (rows[uninstalled.pk], codes[uninstalled.pk]) == (HeldReason.SLACK_ACCESS_LOST, "uninstalled")
    assert (rows[waiting.pk], codes[waiting.pk]) == (HeldReason.SLACK_NOT_CONNECTED, "")
    assert (rows[posted.pk], codes[posted.pk]) == ("", "")

    migration.backwards(apps, None)

    rows = dict(Delivery.objects.values_list("pk", "held_reason"))
    assert [rows[d.pk] for d in (channel, revoked, uninstalled, waiting, posted)] == [
        "is_archived", "token_revoked", "uninstalled", "slack_not_connected", ""]

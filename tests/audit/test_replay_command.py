"""The `replay` operator command: same filters as the search, dry run, exit status."""

import pytest
from django.core.management import CommandError, call_command

from audit.models import ActivityLog, BulkReplay, Delivery
from tests.audit.conftest import UNKNOWN_CHANNEL
from tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db


def test_dry_run_lists_and_changes_nothing(tenant, capsys, slack_workspace):
    wanted = DeliveryFactory(tenant=tenant, status="failed", counterparty_name="Acme Trading Ltd")
    DeliveryFactory(tenant=tenant, status="failed", counterparty_name="Globex")
    call_command("replay", "--tenant", tenant.slug, "--status", "failed", "--counterparty", "acme trading ltd",
                 "--dry-run")
    out = capsys.readouterr().out
    assert "1 delivery would be replayed" in out and f"delivery {wanted.pk}:" in out
    assert not Delivery.objects.filter(replay_of__isnull=False).exists() and not BulkReplay.objects.exists()


def test_replays_the_selection_and_reports(tenant, capsys, slack_workspace):
    failed = DeliveryFactory.create_batch(3, tenant=tenant, status="failed", event_name="invoice.create",
                                          channel_id="C0SALES")
    DeliveryFactory(tenant=tenant, status="failed", event_name="bill.create", channel_id="C0SALES")
    DeliveryFactory(tenant=tenant, status="posted", event_name="invoice.create", channel_id="C0SALES")
    call_command("replay", "--tenant", tenant.slug, "--status", "failed", "--event", "invoice.create",
                 "--channel", "C0SALES", "--since", "2000-01-01", "--until", "2999-12-31")
    assert "3 of 3 replayed, 0 refused" in capsys.readouterr().out
    assert set(Delivery.objects.filter(replay_of__isnull=False).values_list("replay_of_id", flat=True)) == {
        d.pk for d in failed}
    assert ActivityLog.objects.get(tenant=tenant, action="delivery.bulk_replay_requested").actor_label == "system"


def test_errors_exit_non_zero(tenant, slack_workspace):
    DeliveryFactory(tenant=tenant, status="failed")
    with pytest.raises(CommandError, match="No tenant"):
        call_command("replay", "--tenant", "nope")
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("replay", "--tenant", tenant.slug, "--since", "yesterday")
    with pytest.raises(CommandError, match="Unknown event"):
        call_command("replay", "--tenant", tenant.slug, "--event", "invoice.explode")
    with pytest.raises(CommandError, match="only goes with --mode as_routed"):
        call_command("replay", "--tenant", tenant.slug, "--to-channel", "C1", "--mode", "reevaluate")
    with pytest.raises(CommandError, match="Not everything was replayed"):
        call_command("replay", "--tenant", tenant.slug, "--to-channel", UNKNOWN_CHANNEL)


def test_nothing_matching_is_not_an_error(tenant, capsys):
    call_command("replay", "--tenant", tenant.slug, "--document", "INV-NONE")
    assert "nothing replayed" in capsys.readouterr().out

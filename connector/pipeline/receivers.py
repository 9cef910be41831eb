"""The pipeline listens to the Slack, FreshBooks and routing apps: a working installation, a reconnected
FreshBooks or a changed channel releases what was held for it; a reconnect or a callback verified
again calls for a catch-up read. Every delivery attempt recorded is counted in the metrics."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from audit.models import DeliveryAttempt
from connector.freshbooks.models import CatchUpState, FreshBooksCallback, FreshBooksConnection
from connector.freshbooks.signals import connection_reactivated
from connector.pipeline import metrics, slack_actions  # noqa: F401 - slack_actions: its tasks and app_home_opened receiver
from connector.pipeline.catch_up_schedule import catch_up_soon
from connector.pipeline.resume import resume_channel_holds, resume_freshbooks_holds, resume_slack_holds
from connector.slack.signals import installation_reactivated
from routing.signals import rule_channel_changed


@receiver(installation_reactivated, dispatch_uid="pipeline.resume_slack_holds")
def _on_installation_reactivated(sender, *, tenant, installation, **kwargs):
    resume_slack_holds(tenant=tenant, installation=installation)


@receiver(rule_channel_changed, dispatch_uid="pipeline.resume_channel_holds")
def _on_rule_channel_changed(sender, *, tenant, old_channel_id, new_channel_id, new_channel_name="", **kwargs):
    resume_channel_holds(tenant=tenant, old_channel_id=old_channel_id, new_channel_id=new_channel_id,
                         new_channel_name=new_channel_name)


@receiver(connection_reactivated, dispatch_uid="pipeline.resume_freshbooks_holds")
def _on_freshbooks_reconnected(sender, *, tenant, **kwargs):
    resume_freshbooks_holds(tenant=tenant)


@receiver(post_save, sender=FreshBooksConnection, dispatch_uid="pipeline.catch_up_after_reconnect")
def _on_connection_saved(sender, *, instance, created, update_fields=None, **kwargs):
    # Connecting again saves the whole row; a token refresh names its fields and is no gap.
    if not created and update_fields is None and instance.status == FreshBooksConnection.Status.ACTIVE:
        catch_up_soon(connection_id=instance.pk, reason="reconnected")


@receiver(post_save, sender=FreshBooksCallback, dispatch_uid="pipeline.catch_up_after_reverify")
def _on_callback_saved(sender, *, instance, created, update_fields=None, **kwargs):
    # Verified again after a read already ran: webhooks may have been lost while it was not.
    if instance.state == FreshBooksCallback.State.VERIFIED and update_fields is None and \
            CatchUpState.objects.filter(connection_id=instance.connection_id, last_read_at__isnull=False).exists():
        catch_up_soon(connection_id=instance.connection_id, reason="callback verified again")


post_save.connect(metrics.attempt_recorded, sender=DeliveryAttempt, dispatch_uid="pipeline.metrics.attempt")

"""The pipeline listens to the Slack, FreshBooks and routing apps: a working installation, a reconnected
FreshBooks or a changed channel releases what was held for it. Every delivery attempt recorded is
counted in the metrics."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from audit.models import DeliveryAttempt
from connector.freshbooks.signals import connection_reactivated
from connector.pipeline import metrics, slack_actions  # noqa: F401 - slack_actions: its tasks and app_home_opened receiver
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


post_save.connect(metrics.attempt_recorded, sender=DeliveryAttempt, dispatch_uid="pipeline.metrics.attempt")

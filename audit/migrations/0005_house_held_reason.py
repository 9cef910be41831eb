"""Delivery.held_reason becomes one HeldReason value; the Slack error code a hold came with moves to
last_error_code (where the dashboard's per-code wording still finds it)."""

from django.db import migrations, models

# The Slack codes held deliveries carried as their held_reason, as classified when this migration was
# written: the destination-broken ones; every other code marked a dead installation.
CHANNEL_CODES = (
    "channel_not_found", "not_in_channel", "is_archived", "restricted_action",
    "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
    "restricted_action_non_threadable_channel", "restricted_action_thread_locked", "team_not_found",
    "messages_tab_disabled", "cannot_reply_to_message", "no_permission", "channel_is_limited_access",
)
KEPT = ("", "slack_not_connected")


def forwards(apps, schema_editor):
    Delivery = apps.get_model("audit", "Delivery")
    old = Delivery.objects.exclude(held_reason__in=KEPT)
    for code in old.order_by().values_list("held_reason", flat=True).distinct():
        reason = "channel_unusable" if code in CHANNEL_CODES else "slack_access_lost"
        rows = Delivery.objects.filter(held_reason=code)
        rows.filter(last_error_code="").update(last_error_code=code)
        rows.update(held_reason=reason)


def backwards(apps, schema_editor):
    Delivery = apps.get_model("audit", "Delivery")
    for reason, fallback in (("channel_unusable", "channel_not_found"), ("slack_access_lost", "token_revoked")):
        rows = Delivery.objects.filter(held_reason=reason)
        rows.exclude(last_error_code="").update(held_reason=models.F("last_error_code"))
        rows.filter(last_error_code="").update(held_reason=fallback)


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0004_delivery_amount_desc_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="delivery",
            name="held_reason",
            field=models.CharField(blank=True, choices=[
                ("slack_not_connected", "Slack is not connected"), ("slack_access_lost", "Slack access lost"),
                ("channel_unusable", "Channel unusable"), ("freshbooks_reauth", "FreshBooks needs reconnecting"),
                ("freshbooks_not_connected", "FreshBooks is not connected")], max_length=64),
        ),
        migrations.RunPython(forwards, backwards),
    ]

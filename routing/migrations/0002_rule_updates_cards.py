from django.db import migrations, models


class Migration(migrations.Migration):
    """Rules get `updates`. Rules that exist already keep today's behaviour ("channel": every event its own
    message); rules created from now on default to "thread" (living cards)."""

    dependencies = [
        ("routing", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="rule",
            name="updates",
            field=models.CharField(choices=[("thread", "Edit its card and reply in its thread"), ("channel", "Post each as a new message")], default="channel", max_length=8),
        ),
        migrations.AlterField(
            model_name="rule",
            name="updates",
            field=models.CharField(choices=[("thread", "Edit its card and reply in its thread"), ("channel", "Post each as a new message")], default="thread", max_length=8),
        ),
    ]

# Catch-up reads: each inbound event says whether a webhook or a catch-up read brought it.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0006_slackact_invoice_state'),
    ]

    operations = [
        migrations.AddField(
            model_name='inboundevent',
            name='source',
            field=models.CharField(choices=[('webhook', 'Webhook'), ('poll', 'Catch-up read')], default='webhook', max_length=8),
        ),
    ]

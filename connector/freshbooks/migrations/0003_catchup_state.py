# Catch-up reads: one state row per FreshBooks connection (watermark, schedule, last results).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('freshbooks', '0002_intake_verification_requested_at'),
        ('tenants', '0002_invitation'),
    ]

    operations = [
        migrations.CreateModel(
            name='CatchUpState',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('history_before', models.DateTimeField()),
                ('watermark', models.DateTimeField()),
                ('next_read_at', models.DateTimeField(db_index=True)),
                ('claimed_until', models.DateTimeField(blank=True, null=True)),
                ('backoff_until', models.DateTimeField(blank=True, null=True)),
                ('last_read_at', models.DateTimeField(blank=True, null=True)),
                ('last_success_at', models.DateTimeField(blank=True, null=True)),
                ('last_error', models.CharField(blank=True, max_length=300)),
                ('failures', models.PositiveIntegerField(default=0)),
                ('last_read_count', models.PositiveIntegerField(default=0)),
                ('last_new_count', models.PositiveIntegerField(default=0)),
                ('last_missed_at', models.DateTimeField(blank=True, null=True)),
                ('last_missed_count', models.PositiveIntegerField(default=0)),
                ('missed_total', models.PositiveIntegerField(default=0)),
                ('connection', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='catch_up', to='freshbooks.freshbooksconnection')),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenants.tenant')),
            ],
            options={
                'abstract': False,
            },
        ),
    ]

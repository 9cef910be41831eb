# The client/vendor search's index gains the sort keys (audit/search_pages.py reads a page's ids from it).
# A plain index build (not CONCURRENTLY): `make run` may use SQLite, which has no concurrent builds.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0010_hardening_activity_chain_key"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(fields=["tenant", "counterparty_index", "-created_at", "-id"],
                               name="delivery_counterparty_recent"),
        ),
        migrations.RemoveIndex(model_name="delivery", name="delivery_counterparty"),
    ]

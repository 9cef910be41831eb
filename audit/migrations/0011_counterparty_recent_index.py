# The client/vendor search's index gains the sort keys (audit/search_pages.py reads a page's ids from it).
# Built concurrently: deliveries keep being written while a large ledger is indexed.

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("audit", "0010_hardening_activity_chain_key"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="delivery",
            index=models.Index(fields=["tenant", "counterparty_index", "-created_at", "-id"],
                               name="delivery_counterparty_recent"),
        ),
        RemoveIndexConcurrently(model_name="delivery", name="delivery_counterparty"),
    ]

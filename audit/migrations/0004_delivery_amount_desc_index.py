"""The activity search's "biggest amount first" sort (amount DESC NULLS LAST) cannot walk the ascending
(tenant, amount) index backwards (that gives NULLS FIRST), so PostgreSQL gets a matching index. SQLite cannot
declare NULLS LAST in an index and does not need one at its scale: nothing there."""

from django.db import migrations

INDEX = "delivery_tenant_amount_desc"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON audit_delivery "
                              "(tenant_id, amount DESC NULLS LAST, id DESC)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_search_indexes_bulk_replay")]

    operations = [migrations.RunPython(create, drop, elidable=False)]

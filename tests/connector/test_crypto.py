"""Encryption at rest: no plaintext in the database, and key rotation keeps every value readable."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from audit.models import InboundEvent

SECRET_BODY = "name=invoice.create&object_id=987654&account_id=SECRETACCT"


def _raw(table, column, pk):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_encrypted_column_holds_no_plaintext(tenant):
    event = InboundEvent.objects.create(tenant=tenant, name="invoice.create", object_id="987654",
                                        raw_body=SECRET_BODY, fetched_object={"client": "Acme Secret Ltd"})
    raw_body = _raw("audit_inboundevent", "raw_body", event.pk)
    raw_object = _raw("audit_inboundevent", "fetched_object", event.pk)
    assert "SECRETACCT" not in raw_body and "987654" not in raw_body
    assert "Acme Secret" not in raw_object
    assert _raw("tenants_tenant", "webhook_token", tenant.pk) != tenant.webhook_token
    reloaded = InboundEvent.objects.get(pk=event.pk)
    assert reloaded.raw_body == SECRET_BODY
    assert reloaded.fetched_object == {"client": "Acme Secret Ltd"}


@pytest.mark.django_db
def test_rotate_keys_then_old_key_removed_everything_decrypts(tenant, settings):
    old_key = settings.ENCRYPTION_KEYS[0]
    events = [InboundEvent.objects.create(tenant=tenant, name="bill.create", object_id=str(i),
                                          raw_body=f"body {i}", fetched_object={"n": i}) for i in range(7)]
    token = tenant.webhook_token
    new_key = Fernet.generate_key().decode()

    settings.ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_keys", batch_size=3)
    call_command("rotate_keys", batch_size=3)  # safe to re-run

    settings.ENCRYPTION_KEYS = [new_key]
    for i, event in enumerate(events):
        reloaded = InboundEvent.objects.get(pk=event.pk)
        assert reloaded.raw_body == f"body {i}"
        assert reloaded.fetched_object == {"n": i}
    tenant.refresh_from_db()
    assert tenant.webhook_token == token
    with pytest.raises(Exception):  # noqa: B017 - the old key alone can no longer read anything
        settings.ENCRYPTION_KEYS = [old_key]
        InboundEvent.objects.get(pk=events[0].pk)

"""The activity log is hash-chained per tenant, and verify_audit finds a changed row."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit.activity import activity_record, activity_verify


@pytest.mark.django_db
def test_chain_is_intact_then_tampering_is_found(tenant, owner, other_tenant, capsys):
    entries = [activity_record(tenant=tenant, actor=owner, action="rule.created", target=f"rule {i}",
                               details={"i": i}) for i in range(4)]
    activity_record(tenant=other_tenant, actor=None, action="rule.created")
    assert activity_verify(tenant=tenant) is None
    call_command("verify_audit")
    assert f"{tenant.slug}: intact" in capsys.readouterr().out

    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_activitylog SET target = 'rule X' WHERE id = %s", [entries[2].pk])
    assert activity_verify(tenant=tenant).pk == entries[2].pk
    with pytest.raises(CommandError):
        call_command("verify_audit")
    out = capsys.readouterr().out
    assert f"BROKEN at activity entry {entries[2].pk}" in out
    assert f"{other_tenant.slug}: intact" in out


@pytest.mark.django_db
def test_a_deleted_entry_breaks_the_chain(tenant, owner):
    entries = [activity_record(tenant=tenant, actor=owner, action="x", target=str(i)) for i in range(3)]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_activitylog WHERE id = %s", [entries[1].pk])
    assert activity_verify(tenant=tenant).pk == entries[2].pk


@pytest.mark.django_db
def test_entries_cannot_be_updated_through_the_orm(tenant, owner):
    entry = activity_record(tenant=tenant, actor=owner, action="x")
    entry.target = "changed"
    with pytest.raises(ValueError, match="append-only"):
        entry.save()

"""Operator commands take secrets from the environment or standard input, not only from arguments."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from connector.freshbooks.models import FreshBooksConnection

pytestmark = pytest.mark.django_db


def _connect_freshbooks(tenant, *extra):
    call_command("connect_freshbooks", "--tenant", tenant.slug, "--expires-in", "3600", "--account-id", "A1",
                 "--business-id", "77", *extra, stdout=StringIO())
    return FreshBooksConnection.objects.get(tenant=tenant)


def test_freshbooks_tokens_from_the_environment(tenant, monkeypatch):
    monkeypatch.setenv("FRESHBOOKS_ACCESS_TOKEN", "env-access")
    monkeypatch.setenv("FRESHBOOKS_REFRESH_TOKEN", "env-refresh")

    connection = _connect_freshbooks(tenant)

    assert (connection.access_token, connection.refresh_token) == ("env-access", "env-refresh")


def test_freshbooks_tokens_from_standard_input(tenant, monkeypatch):
    monkeypatch.delenv("FRESHBOOKS_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("FRESHBOOKS_REFRESH_TOKEN", raising=False)
    monkeypatch.setattr("sys.stdin", StringIO("stdin-access\nstdin-refresh\n"))

    connection = _connect_freshbooks(tenant)

    assert (connection.access_token, connection.refresh_token) == ("stdin-access", "stdin-refresh")


def test_a_missing_token_is_a_clear_error(tenant, monkeypatch):
    monkeypatch.delenv("FRESHBOOKS_ACCESS_TOKEN", raising=False)
    monkeypatch.setattr("sys.stdin", StringIO(""))

    with pytest.raises(CommandError, match="--access-token is missing"):
        _connect_freshbooks(tenant, "--refresh-token", "R")


def test_createtenant_reads_the_password_from_standard_input(monkeypatch):
    monkeypatch.delenv("TENANT_OWNER_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin", StringIO("a secret passphrase\n"))

    call_command("createtenant", "--name", "Acme", "--owner", "boss@example.com", "--password-stdin",
                 stdout=StringIO())

    assert get_user_model().objects.get(email="boss@example.com").check_password("a secret passphrase")


def test_createtenant_without_a_password_leaves_it_to_password_reset(monkeypatch):
    monkeypatch.delenv("TENANT_OWNER_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin", StringIO("not read\n"))

    call_command("createtenant", "--name", "Acme", "--owner", "boss@example.com", stdout=StringIO())

    assert not get_user_model().objects.get(email="boss@example.com").has_usable_password()

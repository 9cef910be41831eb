"""Shared fixtures: tenants with members of each role, signed-in clients, API clients."""

import logging
import re
import socket

import pytest
from django.db.models.signals import post_save
from rest_framework.test import APIClient

from connector.core.logging import JsonFormatter
from tenants.middleware import SESSION_KEY
from tenants.models import Role, Tenant
from tenants.services import api_token_create
from tests.factories import MembershipFactory, TenantFactory, UserFactory

_real_connect = socket.socket.connect


def _loopback_only_connect(self, address):
    # Unit tests never reach the network: only loopback (PostgreSQL, Redis, local stand-ins) is allowed.
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and not (host.startswith("127.") or host in ("localhost", "::1", "0.0.0.0")) \
            and not host.startswith("/"):
        raise OSError(f"tests may not open network connections (tried {address!r})")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _loopback_only_connect)


# --- No log line of a test run may hold a webhook token --------------------------------------------------
_UNREDACTED_WEBHOOK_PATH = re.compile(r"/webhooks/freshbooks/(?!<redacted>)[^/\s\"']+")


class _LogLines(logging.Handler):
    """Every record as the production formatter writes it (message, extras, traceback), before any
    handler-level filter: what the redaction must already have cleaned at the logger."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.formatter_ = JsonFormatter()

    def emit(self, record):
        self.lines.append(self.formatter_.format(record))


@pytest.fixture(autouse=True)
def _no_webhook_token_in_logs():
    tokens: set[str] = set()

    def remember(sender, instance, **kwargs):
        if instance.webhook_token:
            tokens.add(instance.webhook_token)

    post_save.connect(remember, sender=Tenant, dispatch_uid="tests.remember_webhook_tokens")
    lines = _LogLines()
    logging.getLogger().addHandler(lines)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(lines)
        post_save.disconnect(sender=Tenant, dispatch_uid="tests.remember_webhook_tokens")
    leaks = [line for line in lines.lines
             if _UNREDACTED_WEBHOOK_PATH.search(line) or any(token in line for token in tokens)]
    assert not leaks, f"webhook tokens in log lines: {leaks[:3]}"


@pytest.fixture
def tenant(db):
    return TenantFactory()


@pytest.fixture
def other_tenant(db):
    return TenantFactory()


def _member(tenant, role):
    return MembershipFactory(tenant=tenant, user=UserFactory(), role=role).user


@pytest.fixture
def owner(tenant):
    return _member(tenant, Role.OWNER)


@pytest.fixture
def admin_user(tenant):
    return _member(tenant, Role.ADMIN)


@pytest.fixture
def viewer(tenant):
    return _member(tenant, Role.VIEWER)


@pytest.fixture
def other_owner(other_tenant):
    return _member(other_tenant, Role.OWNER)


def _signed_in(client, user, tenant):
    client.force_login(user, backend="tenants.auth.EmailBackend")
    session = client.session
    session[SESSION_KEY] = tenant.pk
    session.save()
    return client


@pytest.fixture
def owner_client(client, owner, tenant):
    return _signed_in(client, owner, tenant)


@pytest.fixture
def viewer_client(client, viewer, tenant):
    return _signed_in(client, viewer, tenant)


@pytest.fixture
def other_client(client, other_owner, other_tenant):
    return _signed_in(client, other_owner, other_tenant)


def _api(user, tenant):
    _, key = api_token_create(tenant=tenant, user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


@pytest.fixture
def owner_api(owner, tenant):
    return _api(owner, tenant)


@pytest.fixture
def viewer_api(viewer, tenant):
    return _api(viewer, tenant)


@pytest.fixture
def other_api(other_owner, other_tenant):
    return _api(other_owner, other_tenant)

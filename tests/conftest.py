"""Shared fixtures: tenants with members of each role, signed-in clients, API clients."""

import socket

import pytest
from rest_framework.test import APIClient

from tenants.middleware import SESSION_KEY
from tenants.models import Role
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

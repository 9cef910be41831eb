"""Fixtures of the FreshBooks tests: a connected tenant with a verified callback, a FreshBooks mocked at
the transport (`responses`), and a helper posting signed webhooks to the intake."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
import responses as responses_lib
from django.utils import timezone

from connector.core.redis_client import redis_quick
from connector.freshbooks.models import FreshBooksCallback, FreshBooksConnection
from connector.freshbooks.signature import form_fields, signature_compute

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "freshbooks"
API = "https://api.freshbooks.com"
ACCOUNT_ID = "p7rQW5"  # the account of the recorded fixtures
# The verifier of FreshBooks' documented signature example, used as this tenant's invoice.create callback secret.
VERIFIER = "scADVVi5QuKuj5qTjVkbJNYQe7V7USpGd"
OTHER_VERIFIER = "pJ3mXw9QeLr0Vb7Ty2UsNa4Kd8Hf6Gc1Z"


def load_fixture(event: str) -> dict:
    return json.loads((FIXTURES / f"{event}.json").read_text())


def make_connection(tenant, **overrides) -> FreshBooksConnection:
    values = {"account_id": ACCOUNT_ID, "business_id": "14393743", "business_name": "First Business",
              "identity_id": "14051539", "access_token": "access-1", "refresh_token": "refresh-1",
              "expires_at": timezone.now() + timedelta(hours=6), "status": FreshBooksConnection.Status.ACTIVE}
    values.update(overrides)
    return FreshBooksConnection.objects.create(tenant=tenant, **values)


def make_callback(connection, event: str, *, verifier: str = "", callback_id: str = "",
                  state=FreshBooksCallback.State.VERIFIED) -> FreshBooksCallback:
    return FreshBooksCallback.objects.create(
        tenant=connection.tenant, connection=connection, event=event, uri=connection.tenant.webhook_url,
        callback_id=callback_id or str(abs(hash(event)) % 10_000_000), verifier=verifier, state=state,
        verified_at=timezone.now() if state == FreshBooksCallback.State.VERIFIED else None)


@pytest.fixture
def settings_fb(settings):
    settings.FRESHBOOKS_API_URL = API
    settings.FRESHBOOKS_AUTH_URL = "https://auth.freshbooks.com"
    return settings


@pytest.fixture
def connection(tenant, settings_fb):
    return make_connection(tenant)


@pytest.fixture
def verified_callback(connection):
    return make_callback(connection, "invoice.create", verifier=VERIFIER, callback_id="2001")


@pytest.fixture
def fb_api():
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def signed(body: str, verifier: str = VERIFIER) -> str:
    return signature_compute(form_fields(body.encode()), verifier)


@pytest.fixture
def post_webhook(client):
    """Posts a form body to a tenant's webhook URL, signed with `verifier` (None: no header)."""

    def post(tenant, body: str, *, verifier: str | None = VERIFIER, signature: str | None = None, token=None):
        headers = {}
        if signature is not None:
            headers["HTTP_X_FRESHBOOKS_HMAC_SHA256"] = signature
        elif verifier is not None:
            headers["HTTP_X_FRESHBOOKS_HMAC_SHA256"] = signed(body, verifier)
        return client.post(f"/webhooks/freshbooks/{token or tenant.webhook_token}/", data=body,
                           content_type="application/x-www-form-urlencoded", **headers)

    return post


@pytest.fixture(autouse=True)
def _fresh_intake_redis():
    """Intake counters, inboxes and verification locks of earlier runs start empty (ids restart with each
    test database, and this checkout's test Redis db outlives it)."""
    keys = redis_quick().keys("mlc:freshbooks:*") + redis_quick().keys("mlc:inbox:*")
    if keys:
        redis_quick().delete(*keys)

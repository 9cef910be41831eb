"""Every door has a limit: a clear 429 with Retry-After past it, and the rate is a setting."""

import itertools
import threading
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from tenants import services
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

_addresses = (f"10.{a}.{b}.{c}" for a, b, c in itertools.product(range(1, 255), repeat=3))


@pytest.fixture(autouse=True)
def _own_counters(settings):
    """Counters live in Redis, beyond the test's transaction: each test counts under its own prefix."""
    settings.RATELIMIT_CACHE_PREFIX = f"rl:{uuid.uuid4().hex}:"


@pytest.fixture
def stranger():
    """A client from an address no other test used: counters live in Redis, beyond one test's transaction."""
    return Client(REMOTE_ADDR=next(_addresses))


def test_the_101st_login_attempt_in_a_window_is_429(stranger, owner, settings):
    settings.LOGIN_RATE = "100/h"
    for _ in range(100):
        response = stranger.post("/accounts/login/", {"username": owner.email, "password": "wrong"})
        assert response.status_code == 200  # the form again, "enter a correct email and password"

    response = stranger.post("/accounts/login/", {"username": owner.email, "password": "correct horse battery staple"})

    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 3600
    assert "Too many attempts" in response.content.decode()
    assert "_auth_user_id" not in stranger.session  # even the right password does not get in now


def test_login_attempts_on_one_address_are_limited_across_ip_addresses(owner, settings):
    settings.LOGIN_RATE = "3/h"
    for _ in range(3):
        Client(REMOTE_ADDR=next(_addresses)).post("/accounts/login/", {"username": owner.email, "password": "x"})

    response = Client(REMOTE_ADDR=next(_addresses)).post("/accounts/login/",
                                                         {"username": owner.email.upper(), "password": "x"})

    assert response.status_code == 429


def test_password_reset_requests_are_limited(stranger, owner, settings, mailoutbox):
    settings.PASSWORD_RESET_RATE = "2/h"
    for _ in range(2):
        assert stranger.post("/accounts/password-reset/", {"email": owner.email}).status_code == 302

    response = stranger.post("/accounts/password-reset/", {"email": owner.email})

    assert response.status_code == 429
    assert response["Retry-After"]
    assert len(mailoutbox) == 2


def test_signups_from_one_address_are_limited(stranger, settings, mailoutbox):
    settings.SIGNUP_RATE = "1/h"
    form = {"business_name": "Acme", "email": "new@example.com", "base_currency": "USD"}
    assert stranger.post("/accounts/signup/", form).status_code == 302

    response = stranger.post("/accounts/signup/", {**form, "email": "other@example.com"})

    assert response.status_code == 429
    assert [m.to for m in mailoutbox] == [["new@example.com"]]


def test_api_requests_past_the_rate_get_429_with_retry_after(owner_api, settings):
    settings.API_THROTTLE_RATE = "3/m"
    for _ in range(3):
        assert owner_api.get("/api/v1/me/").status_code == 200

    response = owner_api.get("/api/v1/me/")

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["extra"]["retry_after"] > 0


def test_guessing_api_tokens_gets_429(settings):
    settings.API_BAD_TOKEN_RATE = "5/m"
    api = APIClient(REMOTE_ADDR=next(_addresses))
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    statuses = [api.get("/api/v1/me/").status_code for _ in range(6)]

    assert statuses == [401] * 5 + [429]


def test_invitations_are_limited_per_tenant(owner_client, tenant, settings, mailoutbox):
    settings.INVITATION_RATE = "2/d"
    for n in range(2):
        owner_client.post("/accounts/settings/invitations/", {"email": f"p{n}@example.com", "role": "viewer"})

    response = owner_client.post("/accounts/settings/invitations/", {"email": "p9@example.com", "role": "viewer"})

    assert response.status_code == 400
    assert "Too many invitations" in response.content.decode()
    assert len(mailoutbox) == 2


def test_invitation_subject_does_not_carry_a_long_business_name(owner_client, tenant, mailoutbox):
    Tenant.objects.filter(pk=tenant.pk).update(name="A" * 200)
    owner_client.post("/accounts/settings/invitations/", {"email": "p@example.com", "role": "viewer"})

    assert len(mailoutbox[0].subject) <= 80


@pytest.mark.django_db(transaction=True)
def test_two_signups_for_one_address_at_once_make_one_account_and_never_share_it():
    """Both threads pass the form's "is the address free?" check; only one may get the account, and the
    other must not be logged into it."""
    barrier = threading.Barrier(2)
    results = []

    def sign_up(password):
        try:
            barrier.wait()
            results.append(("created", services.user_create(email="race@example.com", password=password)))
        except services.AccountExists:
            results.append(("refused", None))
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_up, args=(p,)) for p in ("first passphrase", "second passphrase")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcome for outcome, _ in results) == ["created", "refused"]
    assert get_user_model().objects.filter(email="race@example.com").count() == 1


def test_signup_with_an_existing_address_never_logs_into_it(client, owner):
    response = client.post("/accounts/signup/", {"business_name": "Mine now", "email": owner.email,
                                                 "base_currency": "USD"})

    assert response.status_code == 302 and response["Location"] == "/accounts/signup/check-email/"
    assert "_auth_user_id" not in client.session
    assert not Tenant.objects.filter(name="Mine now").exists()

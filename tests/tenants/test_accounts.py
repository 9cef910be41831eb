"""Log in, log out, password reset, switching between businesses (sign-up: test_signup.py)."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from tenants.models import Role
from tests.factories import MembershipFactory, TenantFactory


@pytest.mark.django_db
def test_log_in_and_out(client, owner):
    assert client.get("/dashboard/").status_code == 302
    response = client.post("/accounts/login/", {"username": owner.email.upper(),
                                                "password": "correct horse battery staple"})
    assert response.status_code == 302
    assert client.get("/dashboard/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/dashboard/").status_code == 302


@pytest.mark.django_db
def test_wrong_password_is_refused(client, owner):
    response = client.post("/accounts/login/", {"username": owner.email, "password": "nope"})
    assert response.status_code == 200
    assert "didn&#x27;t match" in response.content.decode() or "didn't match" in response.content.decode()


@pytest.mark.django_db
def test_password_reset_sends_a_working_link(client, owner):
    client.post("/accounts/password-reset/", {"email": owner.email})
    assert len(mail.outbox) == 1
    link = re.search(r"/accounts/reset/\S+/\S+/", mail.outbox[0].body).group(0)
    form_url = client.get(link).url  # Django redirects to the set-password form
    response = client.post(form_url, {"new_password1": "another-long-passphrase",
                                      "new_password2": "another-long-passphrase"})
    assert response.status_code == 302
    assert client.login(username=owner.email, password="another-long-passphrase")


@pytest.mark.django_db
def test_a_user_in_two_tenants_can_switch(owner_client, owner, tenant):
    second = TenantFactory(name="Second Business")
    MembershipFactory(tenant=second, user=owner, role=Role.VIEWER)
    assert tenant.name in owner_client.get("/dashboard/").content.decode()
    owner_client.post("/accounts/businesses/switch/", {"tenant": second.pk})
    assert "Second Business" in owner_client.get("/dashboard/").content.decode()


@pytest.mark.django_db
def test_cannot_switch_into_a_tenant_one_is_not_member_of(owner_client, tenant, other_tenant):
    owner_client.post("/accounts/businesses/switch/", {"tenant": other_tenant.pk})
    page = owner_client.get("/dashboard/").content.decode()
    assert tenant.name in page and other_tenant.name not in page


@pytest.mark.django_db
def test_createtenant_and_apitoken_commands(capsys):
    from django.core.management import call_command

    call_command("createtenant", "--name", "Blue Sky Bakery", "--owner", "baker@example.com", "--password", "pw-1234-long")
    slug = capsys.readouterr().out.strip().splitlines()[-1]
    assert slug == "blue-sky-bakery"
    call_command("apitoken", "--tenant", slug, "--user", "baker@example.com")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = api.get("/api/v1/me/").json()
    assert body["tenant"] == slug and body["role"] == "owner"
    assert get_user_model().objects.get(email="baker@example.com").check_password("pw-1234-long")
